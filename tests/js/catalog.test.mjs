// What the `runs` route lists, and how a wanted view is made valid for it (frontend/catalog.js).

import assert from "node:assert/strict";
import { test } from "node:test";

import { Catalog, nearestStep, pageOffset } from "../../frontend/catalog.js";
import { emptyView, PAGE_SIZE } from "../../frontend/state.js";
import { listing, runInfo, twoRuns } from "./listings.mjs";

const view = (fields) => ({ ...emptyView(), ...fields });

test("runs, their layers (sorted, merged over runs) and their steps (merged, ascending)", () => {
  const catalog = new Catalog(listing([
    runInfo("b", { conv_z: { steps: [3, 1] }, conv_a: { steps: [0] } }),
    runInfo("a", { conv_a: { steps: [2, 0] } }),
  ]));
  assert.deepEqual(catalog.runs, ["b", "a"]);
  assert.deepEqual(catalog.layersOf(["a", "b"]), ["conv_a", "conv_z"]);
  assert.deepEqual(catalog.stepsOf(["a", "b"], "conv_a"), [0, 2]);
  assert.equal(catalog.latestStep(["b"], "conv_z"), 3);
  assert.equal(catalog.latestStep(["a"], "conv_z"), null);
  assert.equal(catalog.layer("a", "conv_z"), null);
});

test("an empty listing is empty and resolves any view to nothing picked", () => {
  const catalog = new Catalog(listing([]));
  assert.equal(catalog.isEmpty, true);
  assert.deepEqual(catalog.resolve(view({ runs: ["x"], layer: "conv1d", step: 4, filter: 3 })), emptyView());
});

test("a view with nothing wanted gets the first two runs, the first layer and the latest step", () => {
  const catalog = new Catalog(listing([
    runInfo("r1", { conv1d: { steps: [0, 5] } }),
    runInfo("r2", { conv1d: { steps: [0, 5] } }),
    runInfo("r3", { conv1d: { steps: [0, 5] } }),
  ]));
  assert.deepEqual(catalog.resolve(emptyView()), view({ runs: ["r1", "r2"], layer: "conv1d", step: 5 }));
});

test("what a link asks for is kept where it exists, in its order, and replaced where not", () => {
  const catalog = new Catalog(twoRuns());
  const wanted = view({ runs: ["kernel5", "gone", "kernel3"], layer: "conv1d_b", step: 1, filter: 4, offset: 0 });
  assert.deepEqual(catalog.resolve(wanted), { ...wanted, runs: ["kernel5", "kernel3"] });
  const unknown = view({ runs: ["kernel5"], layer: "nope", step: 7, filter: 4 });
  assert.deepEqual(catalog.resolve(unknown), view({ runs: ["kernel5"], layer: "conv1d", step: 2, filter: 4 }));
});

test("a filter beyond the layer is dropped; an offset is clamped to the last page", () => {
  const catalog = new Catalog(listing([runInfo("wide", { conv1d: { steps: [0], num_filters: 200 } })]));
  const resolved = catalog.resolve(view({ runs: ["wide"], filter: 200, offset: 9 * PAGE_SIZE }));
  assert.equal(resolved.filter, null);
  assert.equal(resolved.offset, pageOffset(199));
  assert.equal(catalog.resolve(view({ runs: ["wide"], filter: 130 })).offset, 2 * PAGE_SIZE);
});

test("the filter count of several runs is their largest", () => {
  const catalog = new Catalog(listing([
    runInfo("wide", { conv1d: { steps: [0], num_filters: 1024 } }),
    runInfo("late", { conv1d: { steps: [5], num_filters: 16 } }),
  ]));
  assert.equal(catalog.filterCount(["late"], "conv1d"), 16);
  assert.equal(catalog.filterCount(["wide", "late"], "conv1d"), 1024);
  assert.equal(catalog.filterCount(["late"], "other"), 0);
});

test("a step's wall time is looked up per run, null when the run lacks the step", () => {
  const catalog = new Catalog(listing([runInfo("a", { conv1d: { steps: [0, 2], wall_times: [10, 30] } })]));
  assert.equal(catalog.wallTime("a", "conv1d", 2), 30);
  assert.equal(catalog.wallTime("a", "conv1d", 1), null);
  assert.equal(catalog.wallTime("b", "conv1d", 0), null);
});

test("equal listings have equal fingerprints; a step written again changes it", () => {
  const first = new Catalog(twoRuns());
  assert.equal(new Catalog(twoRuns()).fingerprint, first.fingerprint);
  const rewritten = twoRuns();
  rewritten.runs[0].layers[0].wall_times = [1000, 1001, 5000];
  assert.notEqual(new Catalog(rewritten).fingerprint, first.fingerprint);
});

test("the grid's key changes with the step it shows or its rewrite, not with other steps", () => {
  const shown = view({ runs: ["kernel3"], layer: "conv1d", step: 1 });
  const before = new Catalog(twoRuns());
  const later = new Catalog(twoRuns({ steps: [0, 1, 2, 3] }));
  assert.equal(later.shownKey(shown), before.shownKey(shown));
  assert.notEqual(later.historyKey(["kernel3"], "conv1d"), before.historyKey(["kernel3"], "conv1d"));
  const rewritten = twoRuns();
  rewritten.runs[0].layers[0].wall_times = [1000, 9999, 1002];
  assert.notEqual(new Catalog(rewritten).shownKey(shown), before.shownKey(shown));
});

test("nearestStep: the step itself, else the latest before it, else the first", () => {
  assert.equal(nearestStep([0, 2, 5], 2), 2);
  assert.equal(nearestStep([0, 2, 5], 4), 2);
  assert.equal(nearestStep([3, 5], 1), 3);
  assert.equal(nearestStep([3, 5], null), 5);
  assert.equal(nearestStep([], 3), null);
});

test("pageOffset: the first filter of the page holding the index", () => {
  assert.equal(pageOffset(0), 0);
  assert.equal(pageOffset(PAGE_SIZE + 1), PAGE_SIZE);
  assert.equal(pageOffset(-5), 0);
});
