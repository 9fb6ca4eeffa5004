// What api.js changes in a route's answer: only the non-finite floats JSON
// cannot carry (http_api.md), revived where http_api.md puts floats; every key
// and every other value stays as served.

import assert from "node:assert/strict";
import test from "node:test";

import { FLOAT_FIELDS, reviveFloats } from "../../frontend/api.js";

const window = (tokens, activation, contributions) => ({
  activation, example: 3, position: 1, span_start: 0, tokens, token_ids: [5, 6],
  padding: [false, false], contributions, count: 1,
});
const filter = {
  index: 0,
  bias: "NaN",
  stats: { max: "Infinity", min: "-Infinity", mean: 0.5, positive_fraction: "NaN", positions: 8, histogram: [1, 7] },
  num_windows: 2,
  windows: [window(["NaN", "Infinity"], "Infinity", [0.25, "-Infinity"]), window(["a", "b"], 1.5, null)],
};
const served = (body) => JSON.parse(JSON.stringify(body)); // a fresh answer as the route sends it

test("a filters answer: its floats revived, its keys, tokens and other strings as served", () => {
  const body = served({
    run: "NaN", layer: "conv1d", step: 2, wall_time: 1730000020.5, top_k: 2, distinct: false,
    num_examples: 4, has_contributions: true,
    geometry: { num_filters: 1, activation: "NaN", padding: "valid", path: ["Infinity"] },
    histogram_edges: ["-Infinity", 0.0, "Infinity"], num_filters: 1, offset: 0, limit: 64, filters: [filter],
  });
  const page = reviveFloats(served(body), FLOAT_FIELDS.filters);
  assert.deepEqual(page.histogram_edges, [-Infinity, 0, Infinity]);
  const [revived] = page.filters;
  assert.ok(Number.isNaN(revived.bias));
  assert.equal(revived.stats.max, Infinity);
  assert.equal(revived.stats.min, -Infinity);
  assert.ok(Number.isNaN(revived.stats.positive_fraction));
  assert.equal(revived.windows[0].activation, Infinity);
  assert.deepEqual(revived.windows[0].contributions, [0.25, -Infinity]);
  assert.equal(revived.windows[1].contributions, null);
  // Tokens, names and the geometry's strings are user text: "NaN" stays text.
  assert.deepEqual(revived.windows[0].tokens, ["NaN", "Infinity"]);
  assert.equal(page.run, "NaN");
  assert.deepEqual(page.geometry, body.geometry);
  assert.deepEqual({ ...page, histogram_edges: body.histogram_edges, filters: body.filters }, body);
  assert.deepEqual(Object.keys(revived), Object.keys(filter));
  assert.deepEqual(Object.keys(revived.windows[0]), Object.keys(filter.windows[0]));
});

test("a filter history, a compare answer with a missing column, runs and search", () => {
  const history = reviveFloats(served({
    run: "r", layer: "conv1d", filter: 0, histogram_edges: ["-Infinity", "Infinity"],
    steps: [{ step: 0, wall_time: 10.5, filter }],
  }), FLOAT_FIELDS.filter);
  assert.deepEqual(history.histogram_edges, [-Infinity, Infinity]);
  assert.equal(history.steps[0].filter.stats.max, Infinity);

  const compare = reviveFloats(served({
    layer: "conv1d", filter: 0, requested_step: null, histogram_edges: [0.5],
    columns: [{ run: "r", step: 0, wall_time: 1.5, filter }, { run: "x", step: null, wall_time: null, filter: null, error: "no" }],
  }), FLOAT_FIELDS.compare);
  assert.ok(Number.isNaN(compare.columns[0].filter.bias));
  assert.equal(compare.columns[1].filter, null);
  assert.equal(compare.columns[1].wall_time, null);

  const runs = served({ runs: [{ run: "r", layers: [{ layer: "c", steps: [0, 1], wall_times: [1.5, 2.5] }] }], skipped: [] });
  assert.deepEqual(reviveFloats(served(runs), FLOAT_FIELDS.runs), runs);

  const search = reviveFloats(served({
    token: "NaN", mode: "exact", truncated: false,
    results: [{ run: "r", layer: "c", step: 0, filter: 0, rank: 0, activation: "Infinity", matches: 1, tokens: ["NaN"], count: 1 }],
  }), FLOAT_FIELDS.search);
  assert.equal(search.results[0].activation, Infinity);
  assert.deepEqual(search.results[0].tokens, ["NaN"]);
  assert.equal(search.token, "NaN");
});

test("an overview, a context and the layer facts' float: revived where FLOAT_FIELDS says, the rest as served", () => {
  const overview = reviveFloats(served({
    run: "r", layer: "c", step: 0, wall_time: 1.5, num_filters: 2, outputs: ["NaN"], sample_examples: 3,
    effects_note: "Infinity", duplicate_threshold: null, index: [0, 1], effect_mean: [["NaN", 0.5]],
    effect_mean_abs: [["Infinity", 0.5]], dead: null, duplicate_of: [null, 0], max: ["Infinity", 2.5],
    positive_fraction: [0.25, "NaN"],
  }), FLOAT_FIELDS.overview);
  assert.ok(Number.isNaN(overview.effect_mean[0][0]));
  assert.deepEqual(overview.effect_mean_abs, [[Infinity, 0.5]]);
  assert.deepEqual(overview.max, [Infinity, 2.5]);
  assert.equal(overview.duplicate_threshold, null);
  assert.deepEqual([overview.outputs, overview.effects_note, overview.duplicate_of], [["NaN"], "Infinity", [null, 0]]);

  const context = served({ run: "r", layer: "c", step: 0, example: 4, tokens: ["NaN"], token_ids: [7], padding: [false] });
  assert.deepEqual(reviveFloats(served(context), FLOAT_FIELDS.context), context);

  const detects = { slot_preferences: "computed", patterns: "NaN", contexts: "turned off", inhibiting: "computed",
    slot_top_n: 10, slot_min_count: 3, pattern_share: "NaN" };
  const runs = reviveFloats(served({ runs: [{ run: "r", layers: [{ layer: "c", wall_times: [1.5], detects }] }] }),
    FLOAT_FIELDS.runs);
  const revived = runs.runs[0].layers[0].detects;
  assert.ok(Number.isNaN(revived.pattern_share));
  assert.deepEqual({ ...revived, pattern_share: "NaN" }, detects);
});
