// How the tab's state moves on a listing, a link or a click (frontend/transitions.js).

import assert from "node:assert/strict";
import { test } from "node:test";

import { Catalog } from "../../frontend/catalog.js";
import { emptyView } from "../../frontend/state.js";
import { createStore } from "../../frontend/store.js";
import { followLink, initialState, navigate, takeListing } from "../../frontend/transitions.js";
import { listing, runInfo, twoRuns } from "./listings.mjs";

const view = (fields) => ({ ...emptyView(), ...fields });

/** The store after the first listing, on the view a link asked for (or the default one). */
function listed(first, linked = null) {
  const store = createStore(initialState());
  store.set(takeListing(store.state, first, linked));
  return store;
}

function liveRun(steps, wall_times) {
  return listing([runInfo("live", { conv1d: { steps, wall_times } })]);
}

test("the first listing opens the view the link asks for, made valid", () => {
  const linked = view({ runs: ["kernel5"], layer: "conv1d_b", step: 1, filter: 4 });
  const { state } = listed(twoRuns(), linked);
  assert.deepEqual(state.view, { ...linked, offset: 0 });
  assert.equal(state.scrollTo, "filter");
  assert.ok(state.catalog instanceof Catalog);
});

test("without a link, the first listing opens the default view", () => {
  const { state } = listed(twoRuns());
  assert.deepEqual(state.view, view({ runs: ["kernel3", "kernel5"], layer: "conv1d", step: 2 }));
});

test("an empty log dir gives the empty view, whatever the link", () => {
  const { state } = listed(listing([]), view({ runs: ["kernel3"], step: 1 }));
  assert.equal(state.catalog.isEmpty, true);
  assert.deepEqual(state.view, emptyView());
});

test("a poll listing the same runs changes nothing, its skipped reports included", () => {
  const store = listed(twoRuns());
  const skipped = [{ run: "broken", layer: "conv1d", step: 0, reason: "bad" }];
  assert.deepEqual(takeListing(store.state, twoRuns(), null), {});
  store.set(takeListing(store.state, { ...twoRuns(), skipped }, null));
  assert.deepEqual(store.state.skipped, skipped);
  const copy = skipped.map((s) => ({ ...s }));
  assert.deepEqual(takeListing(store.state, { ...twoRuns(), skipped: copy }, null), {});
});

test("on the latest step, the view follows a new step and says so, staying where the reader is", () => {
  const store = listed(liveRun([0, 1]));
  const before = store.state.view;
  const patch = takeListing(store.state, liveRun([0, 1, 2]), null);
  assert.equal(patch.view.step, 2);
  assert.equal(patch.scrollTo, null);
  assert.equal(patch.stepNews, "new step 2");
  assert.deepEqual({ ...patch.view, step: before.step }, before);
});

test("on an earlier step, a new step leaves the view object as it was: the grid is not fetched again", () => {
  const store = listed(liveRun([0, 1]));
  store.set(navigate(store.state, { step: 0 }));
  const shown = store.state.view;
  const patch = takeListing(store.state, liveRun([0, 1, 2]), null);
  assert.equal(patch.view, undefined);
  assert.equal(patch.stepNews, "new step 2");
  store.set(patch);
  assert.equal(store.state.view, shown);
  assert.deepEqual(store.state.catalog.stepsOf(["live"], "conv1d"), [0, 1, 2]);
});

test("the step shown written again is fetched again and said, the view unchanged in content", () => {
  const store = listed(liveRun([0, 1, 2], [10, 11, 12]));
  const shown = store.state.view;
  const patch = takeListing(store.state, liveRun([0, 1, 2], [10, 11, 99]), null);
  assert.notEqual(patch.view, shown);
  assert.deepEqual(patch.view, shown);
  assert.equal(patch.stepNews, "step 2 written again");
});

test("another step written again is not news and does not refetch the grid", () => {
  const store = listed(liveRun([0, 1, 2], [10, 11, 12]));
  const patch = takeListing(store.state, liveRun([0, 1, 2], [50, 11, 12]), null);
  assert.deepEqual(Object.keys(patch), ["catalog"]);
});

test("a step TensorBoard's sampling dropped gives way to the nearest one kept", () => {
  const store = listed(liveRun([0, 1, 2, 3]));
  store.set(navigate(store.state, { step: 2 }));
  const patch = takeListing(store.state, liveRun([0, 1, 3, 4]), null);
  assert.equal(patch.view.step, 1);
});

test("a log dir emptied, then written again, starts afresh from the link", () => {
  const store = listed(twoRuns());
  store.set(takeListing(store.state, listing([]), null));
  assert.deepEqual(store.state.view, emptyView());
  const linked = view({ runs: ["kernel5"], layer: "conv1d_b", step: 0 });
  store.set(takeListing(store.state, twoRuns(), linked));
  assert.deepEqual(store.state.view, linked);
  assert.equal(store.state.scrollTo, "filter");
});

test("a listing after a failed first one replaces the error", () => {
  const store = createStore({ ...initialState(), listingError: "Could not list the runs: down" });
  store.set(takeListing(store.state, twoRuns(), null));
  assert.equal(store.state.listingError, null);
  assert.equal(store.state.view.layer, "conv1d");
});

test("navigating merges the change, clears the step news and lands on the filter", () => {
  const store = listed(twoRuns());
  store.set({ stepNews: "new step 2" });
  const patch = navigate(store.state, { layer: "conv1d_b", filter: 5 });
  assert.deepEqual(patch.view, view({ runs: ["kernel3", "kernel5"], layer: "conv1d_b", step: 2, filter: 5 }));
  assert.equal(patch.stepNews, "");
  assert.equal(patch.scrollTo, "filter");
  assert.equal(navigate(store.state, { offset: 64 }, "top").scrollTo, "top");
});

test("navigating the same view again is still a request to show it", () => {
  const store = listed(twoRuns());
  const patch = navigate(store.state, {});
  assert.notEqual(patch.view, store.state.view);
  assert.deepEqual(patch.view, store.state.view);
});

test("nothing to navigate before the runs are listed, or when there are none", () => {
  assert.deepEqual(navigate(initialState(), { step: 1 }), {});
  assert.deepEqual(navigate(listed(listing([])).state, { filter: 3 }), {});
});

test("a followed link shows its view unless it is the one on screen", () => {
  const store = listed(twoRuns());
  assert.deepEqual(followLink(store.state, { ...store.state.view }), {});
  const patch = followLink(store.state, view({ runs: ["kernel3"], step: 0, filter: 7 }));
  assert.deepEqual(patch.view, view({ runs: ["kernel3"], layer: "conv1d", step: 0, filter: 7 }));
  assert.equal(patch.scrollTo, "filter");
  assert.deepEqual(followLink(initialState(), view({ step: 1 })), {});
});
