// The plugin's routes (http_api.md, in the plugin's Python package), fetched with
// relative URLs so the tab works under --path_prefix and /experiment/<id>/,
// and normalized into the shapes the views use. Each takes an AbortSignal:
// a panel aborts the fetch it no longer needs.

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

/** {runs: [{run, layers: [{layer, steps, wallTimes, latestStep, numFilters, ...}]}], skipped: [...]} */
export async function fetchRuns(signal) {
  const body = await getJson("runs", [], signal);
  return {
    runs: (body.runs || []).map((run) => ({
      run: run.run,
      layers: (run.layers || []).map(normalizeLayerInfo),
    })),
    skipped: body.skipped || [],
  };
}

/**
 * A page of filters, cached. A step can be written again (the CLI rerun with
 * the same --step), so the key holds the step's wall time from `runs` too:
 * a rewritten step is a new key and is fetched again.
 */
export async function fetchFilterPage({ run, layer, step, wallTime, offset, limit, windowsLimit, signal }) {
  const params = [["run", run], ["layer", layer], ["step", step], ["offset", offset], ["limit", limit]];
  if (windowsLimit !== undefined) params.push(["windows_limit", windowsLimit]);
  const key = JSON.stringify([wallTime ?? null, params]);
  if (pageCache.has(key)) {
    const cached = pageCache.get(key);
    pageCache.delete(key);
    pageCache.set(key, cached); // most recently used goes last
    return cached;
  }
  const body = await getJson("filters", params, signal);
  const page = {
    run: body.run,
    layer: body.layer,
    step: body.step,
    numFilters: body.num_filters,
    offset: body.offset,
    facts: layerFacts(body),
    filters: (body.filters || []).map(normalizeFilter),
  };
  pageCache.set(key, page);
  if (pageCache.size > PAGE_CACHE_SIZE) pageCache.delete(pageCache.keys().next().value);
  return page;
}

/** One filter of one run across every step: [{step, filter}], plus facts. */
export async function fetchFilterHistory({ run, layer, filter, windowsLimit, signal }) {
  const params = [["run", run], ["layer", layer], ["filter", filter]];
  if (windowsLimit !== undefined) params.push(["windows_limit", windowsLimit]);
  const body = await getJson("filter", params, signal);
  return {
    run: body.run,
    histogramEdges: (body.histogram_edges || []).map(toNumber),
    steps: (body.steps || []).map((entry) => ({
      step: entry.step,
      filter: normalizeFilter(entry.filter),
    })),
  };
}

/** Filters whose top windows contain `token`. */
export async function searchToken({ token, partial, step, limit, signal }) {
  const params = [["token", token], ["mode", partial ? "substring" : "exact"], ["limit", limit]];
  if (step !== null && step !== undefined) params.push(["step", step]);
  const body = await getJson("search", params, signal);
  return { results: body.results || [], truncated: Boolean(body.truncated) };
}

function normalizeLayerInfo(layer) {
  return {
    layer: layer.layer,
    steps: layer.steps || [],
    wallTimes: layer.wall_times || [],
    latestStep: layer.latest_step,
    numFilters: layer.num_filters,
    topK: layer.top_k,
    distinct: layer.distinct,
    numExamples: layer.num_examples,
    hasContributions: layer.has_contributions,
    geometry: layer.geometry || {},
  };
}

function layerFacts(body) {
  return {
    topK: body.top_k,
    distinct: Boolean(body.distinct),
    numExamples: body.num_examples,
    hasContributions: Boolean(body.has_contributions),
    geometry: body.geometry || {},
    histogramEdges: (body.histogram_edges || []).map(toNumber),
  };
}

function normalizeFilter(filter) {
  const stats = filter.stats || {};
  return {
    index: filter.index,
    bias: toNumber(filter.bias),
    numWindows: filter.num_windows ?? (filter.windows || []).length,
    stats: {
      max: toNumber(stats.max),
      min: toNumber(stats.min),
      mean: toNumber(stats.mean),
      positiveFraction: toNumber(stats.positive_fraction),
      positions: stats.positions || 0,
      histogram: stats.histogram || [],
    },
    windows: (filter.windows || []).map((w) => ({
      activation: toNumber(w.activation),
      example: w.example,
      position: w.position,
      spanStart: w.span_start,
      tokens: (w.tokens || []).map(String),
      tokenIds: w.token_ids || [],
      padding: w.padding || [],
      contributions: w.contributions ? w.contributions.map(toNumber) : null,
      count: w.count ?? 1,
    })),
  };
}

/** The API sends non-finite floats as the strings "Infinity", "-Infinity", "NaN". */
function toNumber(value) {
  if (typeof value === "number") return value;
  if (value === "Infinity") return Infinity;
  if (value === "-Infinity") return -Infinity;
  return NaN;
}
