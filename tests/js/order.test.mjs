// The order of the cards (frontend/order.js) and the sort in the deep link (state.js).

import assert from "node:assert/strict";
import { test } from "node:test";

import { filterOrder } from "../../frontend/order.js";
import { emptyView, formatHash, parseHash } from "../../frontend/state.js";

const overview = {
  index: [0, 1, 2, 3, 4],
  effect_mean: [[0.1, -0.3, 0.0, 0.1, 0.2], [-0.1, 0.3, 0.0, -0.1, -0.2]],
  effect_mean_abs: [[0.1, 0.3, 0.0, 0.15, 0.2], [0.1, 0.3, 0.0, 0.15, 0.2]],
  max: [1, 5, 0, 3, 2],
  positive_fraction: [0.5, 0.1, 0, 0.5, 0.9],
};

test("each sort puts the largest first, ties in index order", () => {
  assert.deepEqual(filterOrder(overview, "index", 0), [0, 1, 2, 3, 4]);
  assert.deepEqual(filterOrder(overview, "effect", 0), [4, 0, 3, 2, 1]);
  assert.deepEqual(filterOrder(overview, "effect", 1), [1, 2, 0, 3, 4]);
  assert.deepEqual(filterOrder(overview, "abs_effect", 0), [1, 4, 3, 0, 2]);
  assert.deepEqual(filterOrder(overview, "max", 0), [1, 3, 4, 0, 2]);
  assert.deepEqual(filterOrder(overview, "rate", 0), [4, 0, 3, 1, 2]);
});

test("an effect sort without effects falls back to index order", () => {
  assert.deepEqual(filterOrder({ ...overview, effect_mean: [], effect_mean_abs: [] }, "effect", 0), [0, 1, 2, 3, 4]);
});

test("the sort and the output are part of the link; the default sort is left out", () => {
  const view = { ...emptyView(), runs: ["a"], layer: "conv", step: 1, sort: "abs_effect", output: 1 };
  assert.equal(formatHash(view), "runs=a&layer=conv&step=1&sort=abs_effect&output=1");
  assert.deepEqual(parseHash(`#${formatHash(view)}`), view);
  assert.equal(formatHash({ ...view, sort: "index", output: 0 }), "runs=a&layer=conv&step=1");
  assert.equal(parseHash("#runs=a&sort=bogus").sort, "index");
});
