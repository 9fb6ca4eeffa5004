// When each filter settled (the `dynamics` route, http_api.md): per filter,
// its signature's correlation with the latest step's at every step, drawn as
// a sparkline, and the step from which it stayed settled. Pure: tested with
// node --test; views/sparkline.js draws it.

import { formatCorrelation } from "./matching.js";

/** One filter's dynamics: {steps, correlation, jaccard, settled}, or null when there is nothing to draw. */
export function filterDynamics(dynamics, index) {
  if (!dynamics || dynamics.steps.length < 2) return null;
  const filter = dynamics.filters[index]?.filter === index
    ? dynamics.filters[index]
    : dynamics.filters.find((f) => f.filter === index);
  if (!filter || !filter.correlation.some(isNumber)) return null;
  return { steps: dynamics.steps, correlation: filter.correlation, jaccard: filter.jaccard, settled: filter.settled_step };
}

/**
 * The sparkline's line pieces in a width x height box: one [[x, y], ...] per
 * run of known values (an unknown step breaks the line). x spreads the steps
 * evenly; y maps correlation `low`..1 to height..0, where `low` is 0 or the
 * lowest value when it is negative.
 */
export function sparklinePieces(values, width, height) {
  const known = values.filter(isNumber);
  const low = Math.min(0, ...known);
  const span = 1 - low || 1;
  const x = (i) => (values.length > 1 ? (i / (values.length - 1)) * width : width / 2);
  const y = (v) => height - ((Math.min(1, v) - low) / span) * height;
  const pieces = [];
  let piece = null;
  values.forEach((value, i) => {
    if (!isNumber(value)) {
      piece = null;
      return;
    }
    if (!piece) pieces.push((piece = []));
    piece.push([round(x(i)), round(y(value))]);
  });
  return pieces;
}

/** "settled at step S" or "not settled". */
export function settledText(settled) {
  return settled === null || settled === undefined ? "not settled" : `settled at step ${settled}`;
}

/** The sparkline's tooltip: what it plots, step by step, and the settling rule. */
export function dynamicsTitle({ steps, correlation, jaccard, settled }, thresholds) {
  const values = steps.map((step, i) => `step ${step}: r ${formatCorrelation(correlation[i])}` +
    (jaccard && isNumber(jaccard[i]) ? `, windows ${formatCorrelation(jaccard[i])}` : ""));
  const rule = thresholds
    ? `settled: from that step on, r ≥ ${thresholds.correlation} and the top windows' Jaccard ≥ ${thresholds.jaccard}`
    : "";
  return [
    `correlation of this filter's signature with the latest step's (${steps[steps.length - 1]})`,
    ...values,
    `${settledText(settled)}${rule ? ` (${rule})` : ""}`,
  ].join("\n");
}

function isNumber(value) {
  return typeof value === "number" && Number.isFinite(value);
}

function round(value) {
  return Math.round(value * 10) / 10;
}
