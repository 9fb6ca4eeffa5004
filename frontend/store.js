// The tab's state in one place. Panels subscribe to it and render what
// changed; they change it only through set(). Fetches go through
// latestRequest(), so a response that arrives after a newer request for the
// same panel can never reach the page.

/**
 * A store of one plain object. set(patch) merges the patch and tells every
 * subscriber listener(state, previous), unless no value changed (compared
 * with Object.is: a new object is a change, the same one is not).
 */
export function createStore(initial) {
  let state = Object.freeze({ ...initial });
  const listeners = new Set();
  const changes = []; // [state, previous] pairs not yet told to every listener
  let telling = false;

  function set(patch) {
    if (Object.keys(patch).every((key) => Object.is(state[key], patch[key]))) return;
    const previous = state;
    state = Object.freeze({ ...state, ...patch });
    changes.push([state, previous]);
    // A listener that calls set() is heard out first: every listener then
    // sees the changes one by one, in the order they were made.
    if (telling) return;
    telling = true;
    try {
      while (changes.length) {
        const [now, before] = changes.shift();
        for (const listener of [...listeners]) listener(now, before);
      }
    } finally {
      telling = false;
    }
  }

  return {
    get state() {
      return state;
    },
    set,
    /** Returns the function that unsubscribes. */
    subscribe(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}

/**
 * One panel's fetches, of which only the newest counts. run(fetch, commit)
 * calls fetch(signal) and then commit(result); starting another run, or
 * cancel(), aborts the signal, and an aborted run never commits, even when
 * its result arrives anyway (from a cache, say). Resolves to whether it
 * committed; rejects only with the error of a run still current.
 */
export function latestRequest() {
  let current = null; // the AbortController of the run in flight

  async function run(fetch, commit) {
    current?.abort();
    const controller = new AbortController();
    current = controller;
    let result;
    try {
      result = await fetch(controller.signal);
    } catch (error) {
      if (controller.signal.aborted) return false;
      throw error;
    } finally {
      if (current === controller) current = null;
    }
    if (controller.signal.aborted) return false;
    commit(result);
    return true;
  }

  return {
    run,
    cancel() {
      current?.abort();
      current = null;
    },
    get pending() {
      return current !== null;
    },
  };
}
