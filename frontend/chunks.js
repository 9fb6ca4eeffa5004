// Building a long list a piece at a time: what the screen needs now, the rest
// in short tasks after, so the first screen of a 64-card page is not held back
// by the cards below the fold (issue 19). Pure: no DOM, the caller passes the
// clock and the scheduler, so node tests drive it by hand.

/**
 * Milliseconds of building per task: under the 50 ms of a long task, so input waits no longer.
 * Tasks of 12 ms made a 64-card page whole ~150 ms later than one task did (each yield waited
 * for a frame, and on shared cores for the CPU; style and layout stayed ~50-70 ms either way).
 */
export const CHUNK_MS = 45;

/**
 * Builds items 0..count-1 in order, each once, by build(position).
 * options:
 *   schedule(step)  runs step in a later task (setTimeout, or after the next frame)
 *   now()           a clock in ms, for the time budget of a task
 *   chunkMs         the budget: a task builds items until it is spent (at least one item)
 *   onDone(complete) once: complete is true when every item is built, false when cancelled first
 * Returns {built(): how many so far, upTo(end), buildWhile(needed), start(), cancel()}:
 * upTo and buildWhile build synchronously, now; start() schedules the rest.
 */
export function chunkedBuild(count, build, { schedule, now, chunkMs = CHUNK_MS, onDone = () => {} }) {
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`chunkedBuild: count ${count}, expected an integer >= 0`);
  let built = 0;
  let finished = false;
  let started = false;
  const finish = (complete) => {
    if (finished) return;
    finished = true;
    onDone(complete);
  };
  const next = () => {
    build(built);
    built += 1;
  };
  const step = () => {
    if (finished) return;
    const until = now() + chunkMs;
    while (built < count) {
      next();
      if (now() >= until) break;
    }
    if (built < count) schedule(step);
    else finish(true);
  };
  return {
    built: () => built,
    /** Builds through position end - 1 (clamped to count). */
    upTo(end) {
      if (finished) return;
      while (built < Math.min(end, count)) next();
    },
    /** Builds one more while needed(built) holds: e.g. until the screen is covered. */
    buildWhile(needed) {
      if (finished) return;
      while (built < count && needed(built)) next();
    },
    start() {
      if (finished || started) return;
      started = true;
      if (built < count) schedule(step);
      else finish(true);
    },
    cancel: () => finish(false),
  };
}
