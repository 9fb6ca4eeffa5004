// How numbers, counts and the tab's facts are written out, and how a searched
// token is matched. Pure functions: no DOM, so `node --test` runs them.

/** An activation-like number, compactly: 3 significant digits. */
export function formatNumber(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  if (!Number.isFinite(value)) return value > 0 ? "+∞" : "−∞";
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude < 0.001 || magnitude >= 1e5)) {
    return value.toExponential(2);
  }
  return Number(value.toPrecision(3)).toString();
}

export function formatPercent(fraction) {
  if (fraction === null || fraction === undefined || Number.isNaN(fraction)) return "–";
  return `${(fraction * 100).toFixed(fraction < 0.1 ? 1 : 0)}%`;
}

export function formatCount(count) {
  // By hand: toLocaleString goes through Intl, slow for thousands of cards' counts.
  return String(Math.trunc(Number(count))).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/** "kernel 3 · 3-token windows · top 10 distinct of 2,000 examples" */
export function layerDescription({ geometry, top_k, distinct, num_examples }) {
  const dilation = geometry.dilation > 1 ? ` dilation ${geometry.dilation}` : "";
  const stride = geometry.stride > 1 ? ` stride ${geometry.stride}` : "";
  return `kernel ${geometry.kernel_size}${dilation}${stride} · ${geometry.span_width}-token windows · ` +
    `top ${top_k}${distinct ? " distinct" : ""} of ${formatCount(num_examples)} examples`;
}

/** "tokens → embedding → conv1d": the path ends at the layer itself. */
export function layerPath(path, layer) {
  if (!path.length) return "";
  return (path[path.length - 1] === layer ? path : [...path, layer]).join(" → ");
}

/** "filters 64–127 of 1024" */
export function pageLabel({ offset, limit, total }) {
  if (!total) return "no filters";
  return `filters ${offset}–${Math.min(total, offset + limit) - 1} of ${total}`;
}

/** "step 3  (2 of 3)": the slider's step and where it sits among the steps. */
export function stepLabel(steps, index) {
  return steps.length ? `step ${steps[index]}  (${index + 1} of ${steps.length})` : "no steps";
}

/** One of the `runs` route's skipped reports: "run / layer / step 0: reason". */
export function skippedLine({ run, layer, step, reason }) {
  const where = step === null || step === undefined ? "" : ` / step ${step}`;
  return `${run} / ${layer}${where}: ${reason}`;
}

/**
 * A predicate for the search's token: equal (exact) or containing it,
 * ignoring case (partial), as the search route matches. null: no search.
 */
export function tokenMatcher(query, partial) {
  if (!query) return null;
  if (!partial) return (token) => token === query;
  const lowered = query.toLowerCase();
  return (token) => token.toLowerCase().includes(lowered);
}

/**
 * What the step slider says when TensorBoard may have kept only a sample of
 * the layer's steps (`runs` marks such a layer `sampled`), or "". infos: the
 * picked runs' layer infos (api.js's normalized `runs` layers).
 */
export function samplingNote(infos) {
  const sampled = infos.find((info) => info && info.sampled);
  if (!sampled) return "";
  return `${sampled.steps.length} sampled steps up to step ${sampled.max_step}; ` +
    "start TensorBoard with --samples_per_plugin filters=0 to keep all";
}
