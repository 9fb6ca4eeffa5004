// The layer overview's panel: for every new view, the first picked run's
// overview of the layer at its step (the sort of the cards follows that run
// too), drawn as a map of cells above the cards; a cell click jumps to its
// filter, the pickers re-sort the cards. Its view is part of the deep link.

import * as api from "../api.js";
import { nearestStep, pageOffset } from "../catalog.js";
import { latestRequest } from "../store.js";
import { navigate } from "../transitions.js";
import { clear, el } from "../views/dom.js";
import { overviewView } from "../views/overview.js";

export function overviewPanel(store) {
  const root = el("div", { className: "overview-slot" });
  const request = latestRequest();
  const go = (change, scrollTo) => store.set(navigate(store.state, change, scrollTo));
  const on = {
    jump: (index) => go({ filter: index, offset: pageOffset(index) }),
    sort: (sort) => go({ sort, offset: 0, filter: null }, "top"),
    output: (output) => go({ output, offset: 0, filter: null }, "top"),
  };

  const load = ({ view, catalog }) => request.run(
    (signal) => fetchFirstRun(view, catalog, signal),
    (overview) => clear(root).appendChild(overviewView(overview, view, on)),
  ).catch((e) => {
    clear(root).appendChild(el("p", { className: "note", text: `No layer overview: ${e.message}` }));
  });

  store.subscribe((state, previous) => {
    if (state.view === previous.view) return;
    if (!state.catalog || state.catalog.isEmpty || !state.view.runs.length) {
      request.cancel();
      clear(root);
      return;
    }
    load(state);
  });
  return { root };
}

function fetchFirstRun(view, catalog, signal) {
  const run = view.runs[0];
  const info = catalog.layer(run, view.layer);
  if (!info) throw new Error(`no layer "${view.layer}" in run ${run}`);
  const step = nearestStep(info.steps, view.step);
  return api.fetchOverview({ run, layer: view.layer, step, wallTime: catalog.wallTime(run, view.layer, step), signal });
}
