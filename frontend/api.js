// The plugin's routes (http_api.md, in the plugin's Python package), fetched with
// relative URLs so the tab works under --path_prefix and /experiment/<id>/.
// Answers keep the routes' keys exactly as http_api.md spells them (snake_case):
// the only change made here is what JSON cannot carry, non-finite floats, which
// come as strings and are turned back into numbers (FLOAT_FIELDS). Each fetch
// takes an AbortSignal: a panel aborts the fetch it no longer needs.

export class RouteError extends Error {
  constructor(route, status, message) {
    super(message);
    this.route = route;
    this.status = status;
  }
}

const PAGE_CACHE_SIZE = 48;
const pageCache = new Map();

async function getJson(route, params, signal) {
  const query = new URLSearchParams(params).toString();
  const url = query ? `./${route}?${query}` : `./${route}`;
  let response;
  try {
    response = await fetch(url, { headers: { Accept: "application/json" }, signal });
  } catch (e) {
    if (signal?.aborted) throw e; // its panel moved on: nothing to report
    throw new RouteError(route, 0, `Could not reach TensorBoard (${e.message}).`);
  }
  if (!response.ok) {
    const body = (await response.text()).trim().slice(0, 500);
    throw new RouteError(route, response.status, body || `HTTP ${response.status}`);
  }
  return response.json();
}

/** The `runs` answer: {runs: [{run, layers: [{layer, steps, wall_times, latest_step, num_filters, ...}]}], skipped}. */
export function fetchRuns(signal) {
  return getRoute("runs", [], signal);
}

/**
 * A `filters` answer (a page of filters), cached. A step can be written again
 * (the CLI rerun with the same --step), so the key holds the step's wall time
 * from `runs` too: a rewritten step is a new key and is fetched again.
 */
export function fetchFilterPage({ run, layer, step, wallTime, offset, limit, windowsLimit, indices, parts, signal }) {
  const params = pageParams({ run, layer, step, offset, limit, windowsLimit, indices, parts });
  return cached(pageCache, JSON.stringify([wallTime ?? null, params]),
    () => guessed("filters", params, step, wallTime), signal);
}

function pageParams({ run, layer, step, offset, limit, windowsLimit, indices, parts }) {
  const params = [["run", run], ["layer", layer], ["step", step], ["offset", offset], ["limit", limit]];
  if (windowsLimit !== undefined) params.push(["windows_limit", windowsLimit]);
  if (parts !== undefined) params.push(["parts", parts]);
  for (const index of indices || []) params.push(["index", index]);
  return params;
}

// Answers asked for before `runs` says which wall time their step has: a deep link names the run, layer
// and step, so its page and overview can be fetched alongside `runs` instead of after it (a round trip
// of the first render). JSON of [route, params] -> promise of the answer, or null when it failed.
const guesses = new Map();

/**
 * Starts fetching the `filters` page (unless withPage is false) and `overview` of this page query
 * (fetchFilterPage's arguments without wallTime). fetchFilterPage and fetchOverview take such an
 * answer only when its step and wall_time are the ones `runs` gives; otherwise they fetch again.
 */
export function prefetch(page, { withPage = true } = {}) {
  const wanted = [["overview", [["run", page.run], ["layer", page.layer], ["step", page.step]]]];
  if (withPage) wanted.unshift(["filters", pageParams(page)]);
  for (const [route, params] of wanted) {
    guesses.set(JSON.stringify([route, params]), getRoute(route, params).catch(() => null));
  }
}

async function guessed(route, params, step, wallTime) {
  const key = JSON.stringify([route, params]);
  const guess = guesses.get(key);
  guesses.delete(key);
  const answer = guess && wallTime !== undefined && wallTime !== null ? await guess : null;
  if (answer && answer.step === step && answer.wall_time === wallTime) return answer;
  return getRoute(route, params);
}

const detailsCache = new Map();

/**
 * The `details` answer: the parts of one filter a `parts=card` page leaves out
 * ({slot_preferences, inhibiting, intervals}), cached by the step's wall time.
 */
export function fetchDetails({ run, layer, step, wallTime, filter, signal }) {
  const params = [["run", run], ["layer", layer], ["step", step], ["filter", filter]];
  return cached(detailsCache, JSON.stringify([wallTime ?? null, params]), () => getRoute("details", params), signal);
}

const overviewCache = new Map();

/**
 * The `overview` answer: every filter of a (run, layer, step) in a few columns
 * (effect_mean, effect_mean_abs, dead, duplicate_of, max, positive_fraction),
 * cached like pages, by the step's wall time.
 */
export function fetchOverview({ run, layer, step, wallTime, signal }) {
  const params = [["run", run], ["layer", layer], ["step", step]];
  return cached(overviewCache, JSON.stringify([wallTime ?? null, params]),
    () => guessed("overview", params, step, wallTime), signal);
}

/** The `filter` answer: one filter of one run across every step, {run, histogram_edges, steps: [{step, filter}]}. */
export function fetchFilterHistory({ run, layer, filter, windowsLimit, signal }) {
  const params = [["run", run], ["layer", layer], ["filter", filter]];
  if (windowsLimit !== undefined) params.push(["windows_limit", windowsLimit]);
  return getRoute("filter", params, signal);
}

/** The `search` answer: {token, mode, results, truncated}, the filters whose top windows contain `token`. */
export function searchToken({ token, partial, step, limit, signal }) {
  const params = [["token", token], ["mode", partial ? "substring" : "exact"], ["limit", limit]];
  if (step !== null && step !== undefined) params.push(["step", step]);
  return getRoute("search", params, signal);
}

/** The `context` answer: one example, whole, {example, tokens, token_ids, padding}. */
export function fetchContext({ run, layer, step, example, signal }) {
  return getRoute("context", [["run", run], ["layer", layer], ["step", step], ["example", example]], signal);
}

const matchCache = new Map();

/**
 * The `match` answer: each filter of `run` at `step` matched to `otherRun`'s at
 * `otherStep` ({comparable, note, cka, shared, matches: [...]}), cached by both
 * steps' wall times (a step written again is matched again).
 */
export function fetchMatch({ run, otherRun, layer, step, otherStep, wallTimes, signal }) {
  const params = [["run", run], ["run", otherRun], ["layer", layer], ["step", step], ["other_step", otherStep]];
  return cached(matchCache, JSON.stringify([wallTimes ?? null, params]), () => getRoute("match", params), signal);
}

const dynamicsCache = new Map();

/** The `dynamics` answer: per filter of (run, layer), its correlation with the latest step at every step, cached by `stepsKey`. */
export function fetchDynamics({ run, layer, stepsKey, signal }) {
  const params = [["run", run], ["layer", layer]];
  return cached(dynamicsCache, JSON.stringify([stepsKey ?? null, params]), () => getRoute("dynamics", params), signal);
}

/**
 * The answer under `key`, fetched once: panels asking for the same answer at
 * once (the overview panel and the grid) share one request. The shared request
 * is not aborted (another panel may still want it); each caller stops waiting
 * when its own `signal` aborts. A failed request is forgotten, to be tried again.
 */
function cached(cache, key, fetchAnswer, signal) {
  let answer = cache.get(key);
  if (answer) {
    cache.delete(key); // most recently used goes last
  } else {
    answer = fetchAnswer();
    answer.catch(() => cache.get(key) === answer && cache.delete(key));
  }
  cache.set(key, answer);
  if (cache.size > PAGE_CACHE_SIZE) cache.delete(cache.keys().next().value);
  return untilAborted(answer, signal);
}

function untilAborted(promise, signal) {
  if (!signal) return promise;
  if (signal.aborted) return Promise.reject(signal.reason);
  return new Promise((resolve, reject) => {
    const abort = () => reject(signal.reason);
    signal.addEventListener("abort", abort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener("abort", abort));
  });
}

async function getRoute(route, params, signal) {
  // Every route has an entry: FLOAT_FIELDS is rendered from all the routes' declared shapes.
  return reviveFloats(await getJson(route, params, signal), FLOAT_FIELDS[route]);
}

// Where each route's floats sit (http_api.md): FLOAT marks a float, [x] an array
// of x. Only these are revived: a token may be the text "NaN" and stays text.
// Rendered from the routes' declared shapes (tb_filters/plugin/views.py): change
// those, then run the command below; tests/plugin/test_schema.py checks the two agree.
const FLOAT = "float";
// BEGIN generated by `python -m tb_filters.plugin.schema_docs` from tb_filters/plugin/views.py
const DETECTS_FLOATS = { pattern_share: FLOAT };
const TOKEN_SCORE_FLOATS = { score: FLOAT };
const SLOT_PREFERENCE_FLOATS = { raises: [TOKEN_SCORE_FLOATS], lowers: [TOKEN_SCORE_FLOATS] };
const WINDOW_FLOATS = { activation: FLOAT, contributions: [FLOAT] };
const INTERVAL_FLOATS = { low: FLOAT, high: FLOAT, share: FLOAT, windows: [WINDOW_FLOATS] };
const FILTER_FLOATS = {
  slot_preferences: [SLOT_PREFERENCE_FLOATS],
  patterns: [{ activation: FLOAT }],
  inhibiting: [WINDOW_FLOATS],
  intervals: [INTERVAL_FLOATS],
  bias: FLOAT,
  stats: { max: FLOAT, min: FLOAT, mean: FLOAT, positive_fraction: FLOAT },
  windows: [WINDOW_FLOATS],
};
export const FLOAT_FIELDS = {
  runs: { runs: [{ layers: [{ wall_times: [FLOAT], detects: DETECTS_FLOATS }] }] },
  filters: {
    wall_time: FLOAT,
    detects: DETECTS_FLOATS,
    histogram_edges: [FLOAT],
    filters: [FILTER_FLOATS],
  },
  details: {
    slot_preferences: [SLOT_PREFERENCE_FLOATS],
    inhibiting: [WINDOW_FLOATS],
    intervals: [INTERVAL_FLOATS],
  },
  overview: {
    wall_time: FLOAT,
    duplicate_threshold: FLOAT,
    effect_mean: [[FLOAT]],
    effect_mean_abs: [[FLOAT]],
    max: [FLOAT],
    positive_fraction: [FLOAT],
  },
  filter: {
    histogram_edges: [FLOAT],
    steps: [{ wall_time: FLOAT, filter: FILTER_FLOATS }],
  },
  compare: {
    histogram_edges: [FLOAT],
    columns: [{ wall_time: FLOAT, detects: DETECTS_FLOATS, filter: FILTER_FLOATS }],
  },
  search: {
    results: [{ activation: FLOAT }],
    wants: [{ score: FLOAT }],
    patterns: [{ activation: FLOAT }],
  },
  context: {},
  match: {
    cka: FLOAT,
    threshold: FLOAT,
    matches: [{ best_correlation: FLOAT, one_to_one_correlation: FLOAT }],
  },
  dynamics: {
    correlation_threshold: FLOAT,
    jaccard_threshold: FLOAT,
    filters: [{ correlation: [FLOAT], jaccard: [FLOAT] }],
  },
};
// END generated

/**
 * The parsed answer with the floats of `fields` (a FLOAT_FIELDS entry) sent as
 * "Infinity", "-Infinity" or "NaN" (json_util.Cleanse) made numbers again, in place.
 */
export function reviveFloats(value, fields) {
  if (value === null || value === undefined) return value;
  if (fields === FLOAT) return toNumber(value);
  if (Array.isArray(fields)) return value.map((item) => reviveFloats(item, fields[0]));
  for (const [key, inner] of Object.entries(fields)) {
    if (key in value) value[key] = reviveFloats(value[key], inner);
  }
  return value;
}

function toNumber(value) {
  if (typeof value === "number") return value;
  if (value === "Infinity") return Infinity;
  if (value === "-Infinity") return -Infinity;
  return NaN;
}
