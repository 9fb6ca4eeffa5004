// The history panel: one filter across the steps of each picked run, right
// under the filter's row so stepping through keeps both in sight (or in its
// own slot when the row is on another page).

import * as api from "../api.js";
import { pageOffset } from "../catalog.js";
import { latestRequest } from "../store.js";
import { navigate } from "../transitions.js";
import { clear, el } from "../views/dom.js";
import { historyPanel as historyView } from "../views/history.js";

const HISTORY_WINDOWS = 3;

/** grid: the grid panel's root, where the filter's row is looked up. */
export function historyPanel(store, grid) {
  const root = el("div", { className: "history-slot" });
  const request = latestRequest();
  let fetched = { key: null, histories: null };

  const place = (panel) => {
    grid.querySelector(".history-panel")?.remove();
    clear(root);
    if (!panel) return;
    const row = grid.querySelector(`#filter-${store.state.historyFor}`);
    if (row) row.after(panel);
    else root.appendChild(panel);
  };
  const show = (histories) => place(historyView({ ...panelContext(store), histories }));
  const open = (state) => {
    const key = historiesKey(state);
    if (key === fetched.key) {
      show(fetched.histories);
      return;
    }
    request.run((signal) => fetchHistories(state, signal), (histories) => {
      fetched = { key, histories };
      show(histories);
    });
  };

  const close = () => {
    request.cancel();
    place(null);
  };
  // Opened, moved to another filter or another grid, or new steps under a grid that stays.
  const needsShowing = (state, previous) => state.historyFor !== previous.historyFor
    || state.shown !== previous.shown
    || (state.catalog !== previous.catalog && state.view === state.shown.view && historiesKey(state) !== fetched.key);

  store.subscribe((state, previous) => {
    // A history on its way for the view before is stale: the grid's next render opens it again.
    if (state.view !== previous.view) request.cancel();
    if (state.historyFor === null || !state.shown) {
      if (state.historyFor !== previous.historyFor || state.shown !== previous.shown) close();
    } else if (needsShowing(state, previous)) {
      open(state);
    }
  });
  return { root };
}

/** The histories depend on the filter (each run's: its match), the layer, the runs and every step of theirs. */
function historiesKey({ historyFor, view, catalog, shown }) {
  const { runs, layer } = view;
  const filters = runs.map((run) => filterOf(shown, run, historyFor));
  return JSON.stringify([filters, layer, runs, catalog.historyKey(runs, layer)]);
}

/**
 * A run's filter in the row of the first run's `index`: the same index, or,
 * lined up by match, its matched filter. Across one run's steps a filter
 * keeps its index, so each history follows that filter.
 */
function filterOf(shown, run, index) {
  const column = shown?.columns.find((c) => c.run === run);
  return column?.rows?.get(index)?.other ?? index;
}

function panelContext(store) {
  const { historyFor: index, view } = store.state;
  return {
    index,
    layer: view.layer,
    currentStep: view.step,
    onStep: (step) => store.set(navigate(store.state, { step, filter: index, offset: pageOffset(index) })),
    onClose: () => store.set({ historyFor: null }),
  };
}

function fetchHistories({ historyFor, view, shown }, signal) {
  return Promise.all(view.runs.map(async (run) => {
    try {
      return await api.fetchFilterHistory({
        run, layer: view.layer, filter: filterOf(shown, run, historyFor), windowsLimit: HISTORY_WINDOWS, signal,
      });
    } catch (e) {
      return { run, error: e.message };
    }
  }));
}
