// The toolbar's panel: keeps the pickers, the slider and the filter box on
// the store's view, and turns what the reader does with them into changes.

import { pageOffset } from "../catalog.js";
import { samplingNote } from "../format.js";
import { viewLink } from "../links.js";
import { navigate } from "../transitions.js";
import { createControls } from "../views/controls.js";

export function controlsPanel(store) {
  const go = (change) => store.set(navigate(store.state, change));
  const controls = createControls({
    // Unticking the last run is refused: the box is ticked again.
    onRuns: (runs) => (runs.length ? go({ runs }) : showView(controls, store.state)),
    onLayer: (layer) => go({ layer, offset: 0, filter: null }),
    onStep: (step) => go({ step }),
    onFilter: (index) => go({ filter: index, offset: pageOffset(index) }),
    onSearch: (token, partial) => store.set({ query: { token, partial } }),
    onCopyLink: () => copyLink(controls, store.state.view),
  });
  store.subscribe((state, previous) => {
    if (state.view !== previous.view) showView(controls, state);
    // Same view: the filter box is left alone, it may hold a number being typed.
    else if (state.catalog !== previous.catalog) showChoices(controls, state);
    if (state.stepNews !== previous.stepNews) controls.announceStep(state.stepNews);
  });
  return { root: controls.root };
}

function showView(controls, state) {
  showChoices(controls, state);
  const { runs, layer, filter } = state.view;
  controls.setFilterRange(state.catalog.filterCount(runs, layer), filter);
}

function showChoices(controls, { catalog, view }) {
  const { runs, layer, step } = view;
  controls.setRuns(catalog.runs, runs);
  controls.setLayers(catalog.layersOf(runs), layer);
  controls.setSteps(catalog.stepsOf(runs, layer), step);
  controls.setSampling(samplingNote(runs.map((run) => catalog.layer(run, layer))));
}

function copyLink(controls, view) {
  const link = viewLink(view);
  const done = (copied) => controls.showLink(link, copied);
  if (navigator.clipboard && window.isSecureContext) {
    navigator.clipboard.writeText(link).then(() => done(true), () => done(false));
  } else {
    done(false);
  }
}
