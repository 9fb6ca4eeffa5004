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

/** What layerDescription's words mean, for its tooltip. */
export const LAYER_FACTS_MEANING = "kernel: the conv's kernel size; n-token windows: the input tokens one output " +
  "position reads; top k (distinct) of n examples: each filter keeps its k best windows (each distinct token " +
  "window once, with how often it occurs) over the n examples interpreted";

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

/** "+0.042", "−0.018" (a true minus sign), "0": a number whose sign matters. */
export function signedNumber(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  if (value === 0) return "0";
  return `${value > 0 ? "+" : "−"}${formatNumber(Math.abs(value))}`;
}

// The optional parts of a report (the `detects` availabilities of http_api.md):
// what the tab calls them, and how to ask for them (CLI flag / Python keyword).
const FEATURES = {
  slot_preferences: { name: "slot preferences", turnOn: "--slot-top-n N / slot_top_n=N" },
  patterns: { name: "patterns", turnOn: null },
  contexts: { name: "contexts", turnOn: "--contexts / contexts=True" },
  inhibiting: { name: "inhibiting windows", turnOn: "--inhibiting / inhibiting=True" },
  intervals: { name: "across its range", turnOn: "--interval-samples N / interval_samples=N" },
};

/** An interval of activation as written: "(0, 0.0156)", "[0.5, 1)", "[64, +∞)". */
export function intervalLabel(low, high) {
  return `${low === 0 ? "(" : "["}${formatNumber(low)}, ${formatNumber(high)})`;
}

/**
 * Why a report lacks a feature, and what to do about it, from its availability
 * ("turned off", "not defined", "not in this report"):
 * "inhibiting windows: not computed (pass --inhibiting / inhibiting=True)".
 */
export function absentFeatureLine(feature, availability) {
  const { name, turnOn } = FEATURES[feature] ?? { name: feature.replace(/_/g, " "), turnOn: null };
  return `${name}: ${absentReason(availability, turnOn)}`;
}

function absentReason(availability, turnOn) {
  if (availability === "turned off") return turnOn ? `not computed (pass ${turnOn})` : "not computed";
  if (availability === "not defined") {
    return "not defined for this layer (it is not fed by the embedding: its tokens have no contributions)";
  }
  if (availability === "not in this report") return OLD_REPORT;
  return "not available";
}

const OLD_REPORT = "not in this report (written by an older tb_filters; interpret again to add it)";

/**
 * A card's line on its filter's effect on the chosen output, from its run's
 * `overview` answer: {text, title, absent}. With effects: "effect on positive:
 * +0.042 (mean |change| 0.051)"; without, why (the report's effects_note) and
 * how to get them. null when the overview does not hold the filter.
 */
export function effectLine(overview, filterIndex, output) {
  if (!overview.outputs.length) return { text: effectsAbsentLine(overview.effects_note), title: "", absent: true };
  const at = overview.index[filterIndex] === filterIndex ? filterIndex : overview.index.indexOf(filterIndex);
  if (at < 0) return null;
  const o = Math.min(Math.max(0, output), overview.outputs.length - 1);
  const name = overview.outputs[o];
  const mean = overview.effect_mean[o][at];
  const absolute = overview.effect_mean_abs[o][at];
  return {
    text: `effect on ${name}: ${signedNumber(mean)} (mean |change| ${formatNumber(absolute)})`,
    title: `how much this filter moves the output ${name}, over the first ` +
      `${formatCount(overview.sample_examples)} examples: the mean of output − output with the filter ` +
      `zeroed at every position (+: it pushes the output up, −: down); ` +
      `mean |change|: the mean of that difference's absolute value`,
    absent: false,
  };
}

/**
 * Why a report has no effects, from its effects_note: "effects: not computed
 * (drop --no-effects / effects=True)", or the note itself when they were
 * skipped ("effects skipped: ... were not given ...").
 */
export function effectsAbsentLine(note) {
  if (!note) return `effects: ${OLD_REPORT}`;
  if (/not requested/.test(note)) return "effects: not computed (drop --no-effects / effects=True)";
  return note.startsWith("effects") ? note : `effects: ${note}`;
}
