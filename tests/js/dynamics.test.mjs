// A filter's training dynamics on its card (frontend/dynamics.js): the
// sparkline's points and the settled wording.

import assert from "node:assert/strict";
import { test } from "node:test";

import { dynamicsTitle, filterDynamics, settledText, sparklinePieces } from "../../frontend/dynamics.js";

const dynamics = {
  run: "kernel3", layer: "conv1d", steps: [0, 1, 2], latest: 2, correlation_threshold: 0.9, jaccard_threshold: 0.5,
  note: "",
  filters: [
    { filter: 0, correlation: [0.95, 0.99, 1], jaccard: [0.6, 1, 1], settled_step: 0 },
    { filter: 1, correlation: [-0.5, 0.25, 1], jaccard: [0, 0.2, 1], settled_step: null },
    { filter: 2, correlation: [null, null, null], jaccard: [null, null, null], settled_step: null },
  ],
};

test("a filter's dynamics, or null when there is nothing to draw", () => {
  assert.deepEqual(filterDynamics(dynamics, 1), {
    steps: [0, 1, 2], correlation: [-0.5, 0.25, 1], jaccard: [0, 0.2, 1], settled: null,
  });
  assert.equal(filterDynamics(dynamics, 2), null); // no signatures: no correlations
  assert.equal(filterDynamics(dynamics, 7), null);
  assert.equal(filterDynamics({ ...dynamics, steps: [2], filters: [] }, 0), null); // one step: no history
  assert.equal(filterDynamics(null, 0), null);
  // Looked up by filter index, not position, when the list is not dense.
  assert.equal(filterDynamics({ ...dynamics, filters: [dynamics.filters[1]] }, 1).correlation[0], -0.5);
});

test("the sparkline spreads the steps across and maps correlation low..1 to bottom..top", () => {
  assert.deepEqual(sparklinePieces([0, 0.5, 1], 60, 20), [[[0, 20], [30, 10], [60, 0]]]);
  // A negative correlation lowers the bottom to it.
  assert.deepEqual(sparklinePieces([-1, 0, 1], 60, 20), [[[0, 20], [30, 10], [60, 0]]]);
  // An unknown step breaks the line.
  assert.deepEqual(sparklinePieces([0, null, 1, 1], 30, 10), [[[0, 10]], [[20, 0], [30, 0]]]);
  assert.deepEqual(sparklinePieces([null], 30, 10), []);
});

test("settled at a step, or not settled; the tooltip lists every step", () => {
  assert.equal(settledText(2), "settled at step 2");
  assert.equal(settledText(0), "settled at step 0");
  assert.equal(settledText(null), "not settled");
  const title = dynamicsTitle(filterDynamics(dynamics, 0), { correlation: 0.9, jaccard: 0.5 });
  assert.equal(title.split("\n").length, 5);
  assert.match(title, /step 1: r 0\.99, windows 1\.00/);
  assert.match(title, /settled at step 0 \(settled: from that step on, r ≥ 0\.9 and the top windows' Jaccard ≥ 0\.5\)/);
});
