// The grid's panel: fetches a page of filters of each picked run for every
// new view and shows them, one row per filter; before that, the loading note,
// the listing's error or the empty state. What it shows goes to the store as
// `shown`, which the summary, the pagers and the history panel follow.

import * as api from "../api.js";
import { nearestStep } from "../catalog.js";
import { markFetched, markRendered } from "../marks.js";
import { PAGE_SIZE } from "../state.js";
import { latestRequest } from "../store.js";
import { clear, el } from "../views/dom.js";
import { WINDOWS_SHOWN } from "../views/filter_card.js";
import { filterGrid } from "../views/grid.js";
import { emptyState } from "../views/summary.js";

export function gridPanel(store) {
  const root = el("div", { className: "grid-slot", attrs: { "aria-live": "polite" } });
  const request = latestRequest();
  const show = (node) => clear(root).appendChild(node);
  show(el("p", { className: "note loading", text: "Loading runs…" }));

  const load = (state) => request.run(
    (signal) => fetchColumns(state, signal),
    (columns) => showColumns(state, columns),
  );
  const showColumns = ({ view, catalog, scrollTo }, columns) => {
    markFetched();
    show(filterGrid(columns, {
      offset: view.offset,
      limit: PAGE_SIZE,
      highlight: (token) => Boolean(store.state.highlight?.(token)),
      loadAll: (run, step, index) => fetchWholeFilter(catalog, view.layer, run, step, index),
      onHistory: (index) => store.set({ historyFor: index }),
    }));
    if (view.filter !== null) focusRow(root, view.filter, scrollTo === "filter");
    store.set({ shown: { view, columns } });
    if (scrollTo === "top") window.scrollTo(0, 0);
    markRendered();
  };
  const showEmpty = () => {
    request.cancel();
    show(emptyState());
    store.set({ shown: null });
    markRendered();
  };

  store.subscribe((state, previous) => {
    if (state.listingError && state.listingError !== previous.listingError) {
      show(el("p", { className: "error", attrs: { role: "alert" }, text: state.listingError }));
      markRendered();
    }
    if (state.view !== previous.view) {
      if (state.catalog.isEmpty) showEmpty();
      else load(state);
    }
    if (state.highlight !== previous.highlight) outlineMatches(root, state.highlight);
  });
  return { root };
}

/** Each picked run's page of filters, at that run's step nearest the slider's. */
function fetchColumns({ view, catalog }, signal) {
  return Promise.all(view.runs.map(async (run) => {
    const info = catalog.layer(run, view.layer);
    const column = { run, step: null, requestedStep: view.step, page: null, error: null };
    if (!info) return { ...column, error: `No layer "${view.layer}" in this run.` };
    const step = nearestStep(info.steps, view.step);
    try {
      const page = await api.fetchFilterPage({
        run, layer: view.layer, step, wallTime: catalog.wallTime(run, view.layer, step),
        offset: view.offset, limit: PAGE_SIZE, windowsLimit: WINDOWS_SHOWN, signal,
      });
      return { ...column, step, page };
    } catch (e) {
      return { ...column, step, error: `Could not load this run: ${e.message}` };
    }
  }));
}

/** One filter with all its windows, for a card's "show all" button. */
async function fetchWholeFilter(catalog, layer, run, step, index) {
  const wallTime = catalog.wallTime(run, layer, step);
  const page = await api.fetchFilterPage({ run, layer, step, wallTime, offset: index, limit: 1 });
  if (!page.filters.length) throw new Error(`no filter ${index}`);
  return page.filters[0];
}

/** scroll: false when a poll rebuilt the grid under a reader who may have scrolled away. */
function focusRow(root, index, scroll) {
  const row = root.querySelector(`#filter-${index}`);
  if (!row) return;
  row.classList.add("focused");
  if (!scroll) return;
  row.scrollIntoView({ block: "start" });
  // Once the rows it scrolled past are laid out for real, land again.
  requestAnimationFrame(() => row.scrollIntoView({ block: "start" }));
}

/** Outlines the searched token in the cards already shown. */
function outlineMatches(root, highlight) {
  for (const token of root.querySelectorAll(".filter-card .token")) {
    token.classList.toggle("match", Boolean(highlight?.(token.textContent)));
  }
}
