// What the `runs` route lists, and how a wanted view is made valid for it.

import { ALIGNS, PAGE_SIZE, SORTS } from "./state.js";

const DEFAULT_RUNS_PICKED = 2;

export class Catalog {
  /** listing: the `runs` answer (api.fetchRuns), {runs: [{run, layers: [...]}], skipped}. */
  constructor(listing) {
    this.byRun = new Map(listing.runs.map((r) => [r.run, new Map(r.layers.map((l) => [l.layer, l]))]));
    // Equal for two listings with the same runs, layers, steps and wall times,
    // and facts: a poll that changed nothing re-renders nothing.
    this.fingerprint = JSON.stringify(listing.runs);
  }

  get runs() {
    return [...this.byRun.keys()];
  }

  get isEmpty() {
    return this.byRun.size === 0;
  }

  layer(run, layer) {
    return this.byRun.get(run)?.get(layer) ?? null;
  }

  layersOf(runs) {
    const names = new Set();
    for (const run of runs) for (const layer of this.byRun.get(run).keys()) names.add(layer);
    return [...names].sort();
  }

  stepsOf(runs, layer) {
    const steps = new Set();
    for (const run of runs) this.layer(run, layer)?.steps.forEach((s) => steps.add(s));
    return [...steps].sort((a, b) => a - b);
  }

  /** When `step` of (run, layer) was written, or null: part of a page's cache key. */
  wallTime(run, layer, step) {
    const info = this.layer(run, layer);
    const at = info ? info.steps.indexOf(step) : -1;
    return at < 0 ? null : info.wall_times[at] ?? null;
  }

  latestStep(runs, layer) {
    return this.stepsOf(runs, layer).slice(-1)[0] ?? null;
  }

  /**
   * What the grid of `view` shows, per run: the step it shows (the slider's
   * or the nearest), when that was written, and the filter count. A new
   * listing re-renders the grid only when this changes.
   */
  shownKey({ runs, layer, step }) {
    return JSON.stringify(runs.map((run) => {
      const info = this.layer(run, layer);
      if (!info) return [run, null];
      const shown = nearestStep(info.steps, step);
      return [run, shown, this.wallTime(run, layer, shown), info.num_filters];
    }));
  }

  /** Every step and wall time of `layer` in `runs`: a filter's history changes with these. */
  historyKey(runs, layer) {
    return JSON.stringify(runs.map((run) => {
      const info = this.layer(run, layer);
      return info ? [info.steps, info.wall_times] : null;
    }));
  }

  filterCount(runs, layer) {
    return Math.max(0, ...runs.map((run) => this.layer(run, layer)?.num_filters ?? 0));
  }

  /**
   * The closest valid view: known runs (else the first two), a layer they
   * have (else the first), one of their steps (else the latest), a filter
   * that exists, and the page holding it.
   */
  resolve(wanted) {
    let runs = wanted.runs.filter((r) => this.byRun.has(r));
    if (!runs.length) runs = this.runs.slice(0, DEFAULT_RUNS_PICKED);
    const layers = this.layersOf(runs);
    const layer = layers.includes(wanted.layer) ? wanted.layer : layers[0] ?? null;
    const steps = this.stepsOf(runs, layer);
    const step = steps.includes(wanted.step) ? wanted.step : steps[steps.length - 1] ?? null;
    const total = this.filterCount(runs, layer);
    const filter = wanted.filter !== null && wanted.filter < total ? wanted.filter : null;
    const offset = filter !== null
      ? pageOffset(filter)
      : Math.min(Math.max(0, wanted.offset), pageOffset(Math.max(0, total - 1)));
    const sort = SORTS.includes(wanted.sort) ? wanted.sort : "index";
    const output = Number.isInteger(wanted.output) && wanted.output >= 0 ? wanted.output : 0;
    const align = ALIGNS.includes(wanted.align) ? wanted.align : "match";
    return { runs, layer, step, filter, offset, sort, output, align };
  }
}

export function pageOffset(index) {
  return Math.floor(Math.max(0, index) / PAGE_SIZE) * PAGE_SIZE;
}

/** The step itself if the run has it, else its latest step before it, else its first. */
export function nearestStep(steps, wanted) {
  if (!steps.length) return null;
  if (wanted === null || wanted === undefined) return steps[steps.length - 1];
  let best = steps[0];
  for (const step of steps) if (step <= wanted) best = step;
  return best;
}
