// The order of the cards: by filter index, or by a column of the layer's
// overview (api.fetchOverview), largest first, ties by index. Pure: tested
// with node --test.

export const SORT_LABELS = {
  index: "index",
  effect: "effect on output",
  abs_effect: "|effect| on output",
  max: "max activation",
  rate: "activation rate",
  least_shared: "least shared",
};

/** The filter indices of `overview` in the order `sort` (on output `output`) puts them. */
export function filterOrder(overview, sort, output) {
  const values = sortValues(overview, sort, output);
  const positions = overview.index.map((_, i) => i);
  if (values) {
    positions.sort((a, b) => (values[b] - values[a]) || (overview.index[a] - overview.index[b]));
  } else {
    positions.sort((a, b) => overview.index[a] - overview.index[b]);
  }
  return positions.map((i) => overview.index[i]);
}

/**
 * The column a sort reads, or null (index order, or effects not computed).
 * "least_shared" reads the `match` route, not the overview (matching.js's leastSharedOrder).
 */
export function sortValues(overview, sort, output) {
  if (sort === "effect") return overview.effect_mean[output] || null;
  if (sort === "abs_effect") return overview.effect_mean_abs[output] || null;
  if (sort === "max") return overview.max;
  if (sort === "rate") return overview.positive_fraction;
  return null;
}
