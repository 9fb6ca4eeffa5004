// Runs side by side, lined up by what their filters do (the `match` route,
// http_api.md). Two independently trained runs learn their detectors in any
// order, so filter 3 of one has nothing to do with filter 3 of the other:
// each row is a filter of the first run, and each other run's column shows
// its best-correlated filter. Pure: tested with node --test.

import { formatNumber } from "./format.js";

/** Whether a `match` answer carries numbers (same probe, signatures in both reports). */
export function comparable(match) {
  return Boolean(match && !match.error && match.comparable);
}

/**
 * The other run's filter for each of the first run's `indices` (a Map index ->
 * {other, correlation, shared, oneToOne, oneToOneCorrelation}); an index the
 * answer does not cover has no entry.
 */
export function matchedRows(indices, match) {
  const byFilter = new Map(match.matches.map((m) => [m.filter, m]));
  const rows = new Map();
  for (const index of indices) {
    const m = byFilter.get(index);
    if (!m) continue;
    rows.set(index, {
      other: m.best,
      correlation: m.best_correlation,
      shared: m.shared,
      oneToOne: m.one_to_one,
      oneToOneCorrelation: m.one_to_one_correlation,
    });
  }
  return rows;
}

/** The other run's filters to fetch for these rows: each once, in index order. */
export function otherIndices(rows) {
  return [...new Set([...rows.values()].map((row) => row.other))].sort((a, b) => a - b);
}

/**
 * The first run's filters, least shared first: by their best correlation with
 * any other run (the highest over `matches`, one comparable answer per other
 * run) ascending, ties by index. What one run learned alone comes first.
 * null when no answer is comparable.
 */
export function leastSharedOrder(matches) {
  const usable = matches.filter(comparable);
  if (!usable.length) return null;
  const best = new Map();
  for (const match of usable) {
    for (const m of match.matches) {
      const value = Number.isFinite(m.best_correlation) ? m.best_correlation : -Infinity;
      best.set(m.filter, Math.max(best.get(m.filter) ?? -Infinity, value));
    }
  }
  return [...best.keys()].sort((a, b) => (best.get(a) - best.get(b)) || (a - b));
}

/** "kernel5 shares 41 of 64 filters with kernel3 (CKA 0.83)", or why there are no numbers. */
export function layerLine(match) {
  if (match.error) return `${match.other_run} and ${match.run}: no match (${match.error})`;
  if (!match.comparable) return `${match.other_run} and ${match.run}: ${match.note}`;
  return `${match.other_run} shares ${match.shared} of ${match.filters} filters with ${match.run}` +
    ` (CKA ${formatCorrelation(match.cka)})`;
}

/** What the line's numbers mean, for its tooltip. */
export function layerLineTitle(match) {
  if (!comparable(match)) return "";
  return `a filter of ${match.run} is shared when its best correlation with a filter of ${match.other_run} ` +
    `beats the null's ${formatCorrelation(match.threshold)}; correlations of each filter's maximum activation ` +
    `on the same ${match.probe_examples} probe examples. CKA: linear CKA of the two layers on that probe (1: same)`;
}

/**
 * The mark on another run's card: {filter, text, shared, title}, e.g.
 * text "r 0.93 · shared" or "r 0.21 · only in kernel3".
 */
export function matchMark(row, firstRun, run) {
  const where = row.shared ? "shared" : `only in ${firstRun}`;
  const oneToOne = row.oneToOne === null || row.oneToOne === undefined
    ? `no one-to-one match (${run} has fewer filters)`
    : `one-to-one match: filter ${row.oneToOne} (r ${formatCorrelation(row.oneToOneCorrelation)})`;
  return {
    filter: row.other,
    text: `r ${formatCorrelation(row.correlation)} · ${where}`,
    shared: row.shared,
    title: `filter ${row.other} of ${run} correlates best with this row's filter of ${firstRun}: ` +
      `r ${formatCorrelation(row.correlation)}; ${row.shared ? "above" : "not above"} the null, so ` +
      `${row.shared ? "both runs learned it" : `${firstRun} learned it alone`}. ${oneToOne}`,
  };
}

export function formatCorrelation(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  return Number.isFinite(value) ? value.toFixed(2) : formatNumber(value);
}
