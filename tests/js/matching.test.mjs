// Runs side by side lined up by matched filters (frontend/matching.js), the
// "least shared" order, the layer line's wording, and the alignment in links.

import assert from "node:assert/strict";
import { test } from "node:test";

import { Catalog } from "../../frontend/catalog.js";
import {
  comparable, layerLine, leastSharedOrder, matchedRows, matchMark, otherIndices,
} from "../../frontend/matching.js";
import { emptyView, formatHash, hasViewKeys, parseHash } from "../../frontend/state.js";
import { twoRuns } from "./listings.mjs";

/** A `match` answer as http_api.md spells it: best[i] is filter i's best match, with correlation r[i]. */
function matchAnswer({ best, r, shared, run = "kernel3", other = "kernel5", cka = 0.8349 }) {
  return {
    run, other_run: other, layer: "conv1d", step: 2, other_step: 2, comparable: true, note: "",
    probe_examples: 240, cka, threshold: 0.31, shared: shared.filter(Boolean).length,
    filters: best.length, other_filters: best.length,
    matches: best.map((j, i) => ({
      filter: i, best: j, best_correlation: r[i], one_to_one: j, one_to_one_correlation: r[i], shared: shared[i],
    })),
  };
}

const permuted = matchAnswer({
  best: [2, 0, 0, 1], r: [0.99, 0.2, 0.75, 0.9], shared: [true, false, true, true],
});

test("each row of the first run gets the other run's best match; several rows may share one", () => {
  const rows = matchedRows([1, 2, 3, 9], permuted);
  assert.deepEqual([...rows.keys()], [1, 2, 3]); // filter 9 is not in the answer: no entry
  assert.deepEqual(rows.get(2), { other: 0, correlation: 0.75, shared: true, oneToOne: 0, oneToOneCorrelation: 0.75 });
  assert.deepEqual(otherIndices(rows), [0, 1]); // each fetched once, in index order
});

test("least shared first: by the best correlation over every other run, ascending, ties by index", () => {
  assert.deepEqual(leastSharedOrder([permuted]), [1, 2, 3, 0]);
  // A filter another run does share is no longer alone.
  const third = matchAnswer({ best: [0, 1, 2, 3], r: [0.1, 0.95, 0.75, 0.1], shared: [false, true, true, false], other: "seed2" });
  assert.deepEqual(leastSharedOrder([permuted, third]), [2, 3, 1, 0]);
  // A constant (dead) filter's NaN correlation counts as the least shared of all.
  const dead = matchAnswer({ best: [0, 1], r: [NaN, 0.5], shared: [false, true] });
  assert.deepEqual(leastSharedOrder([dead]), [0, 1]);
});

test("answers without numbers order nothing and line up nothing", () => {
  const different = { ...permuted, comparable: false, note: "different probes: kernel3 and kernel5", matches: [] };
  assert.equal(comparable(different), false);
  assert.equal(comparable({ error: "HTTP 404", run: "a", other_run: "b" }), false);
  assert.equal(comparable(null), false);
  assert.equal(leastSharedOrder([different]), null);
  assert.equal(layerLine(different), "kernel5 and kernel3: different probes: kernel3 and kernel5");
});

test("the layer line names the shared count, the first run's filters and the CKA", () => {
  const line = layerLine(matchAnswer({ best: Array(64).fill(0), r: Array(64).fill(0.5), shared: Array(64).fill(false).fill(true, 0, 41) }));
  assert.equal(line, "kernel5 shares 41 of 64 filters with kernel3 (CKA 0.83)");
});

test("a card's mark says shared or which run learned it alone, with the correlation", () => {
  const rows = matchedRows([0, 1], permuted);
  assert.equal(matchMark(rows.get(0), "kernel3", "kernel5").text, "r 0.99 · shared");
  const alone = matchMark(rows.get(1), "kernel3", "kernel5");
  assert.equal(alone.text, "r 0.20 · only in kernel3");
  assert.equal(alone.filter, 0);
  assert.match(alone.title, /kernel3 learned it alone/);
  const fewer = matchMark({ ...rows.get(0), oneToOne: null, oneToOneCorrelation: null }, "a", "b");
  assert.match(fewer.title, /no one-to-one match \(b has fewer filters\)/);
});

test("the alignment is part of the link; matched filters, the default, are left out", () => {
  const view = { ...emptyView(), runs: ["a", "b"], layer: "conv", step: 1, align: "index", sort: "least_shared" };
  assert.equal(formatHash(view), "runs=a,b&layer=conv&step=1&sort=least_shared&align=index");
  assert.deepEqual(parseHash(`#${formatHash(view)}`), view);
  assert.equal(formatHash({ ...view, align: "match", sort: "index" }), "runs=a,b&layer=conv&step=1");
  assert.equal(parseHash("#runs=a&align=bogus").align, "match");
  assert.ok(hasViewKeys("#filters&align=index"));
  const catalog = new Catalog(twoRuns());
  assert.equal(catalog.resolve({ ...emptyView(), align: "index" }).align, "index");
  assert.equal(catalog.resolve({ ...emptyView(), align: "sideways" }).align, "match");
});
