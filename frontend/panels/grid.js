// The grid's panel: fetches a page of filters of each picked run for every
// new view and shows them, one row per filter; before that, the loading note,
// the listing's error or the empty state. What it shows goes to the store as
// `shown`, which the summary, the pagers and the history panel follow.

import * as api from "../api.js";
import { nearestStep, pageOffset } from "../catalog.js";
import { filterOrder } from "../order.js";
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
    ({ columns, order }) => showColumns({ ...state, view: { ...state.view, offset: order.offset } }, columns, order),
  );
  const showColumns = ({ view, catalog, scrollTo }, columns, order) => {
    markFetched();
    show(filterGrid(columns, {
      offset: view.offset,
      indices: order.indices,
      limit: PAGE_SIZE,
      output: view.output,
      highlight: (token) => Boolean(store.state.highlight?.(token)),
      loadAll: (run, step, index) => fetchWholeFilter(catalog, view.layer, run, step, index),
      loadContext: (run, step, example) => api.fetchContext({ run, layer: view.layer, step, example }),
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

/**
 * The page's filters in the view's order: index order pages by offset; any other
 * sort follows the first run's overview (so runs side by side keep one order),
 * and a linked filter lands on the page that holds it.
 */
async function pageOrder({ view, catalog }, signal) {
  if (view.sort === "index") return { offset: view.offset, indices: null };
  const run = view.runs[0];
  const info = catalog.layer(run, view.layer);
  const step = nearestStep(info.steps, view.step);
  const overview = await api.fetchOverview({
    run, layer: view.layer, step, wallTime: catalog.wallTime(run, view.layer, step), signal,
  });
  const order = filterOrder(overview, view.sort, view.output);
  const position = view.filter !== null ? order.indexOf(view.filter) : -1;
  const offset = position >= 0 ? pageOffset(position) : view.offset;
  return { offset, indices: order.slice(offset, offset + PAGE_SIZE) };
}

async function fetchColumns(state, signal) {
  let order;
  try {
    order = await pageOrder(state, signal);
  } catch (e) {
    if (signal.aborted) throw e;
    order = { offset: state.view.offset, indices: null }; // no overview: index order
  }
  return { columns: await fetchRunColumns(state, order, signal), order };
}

/** Each picked run's page of filters and its overview, at that run's step nearest the slider's. */
function fetchRunColumns({ view, catalog }, order, signal) {
  return Promise.all(view.runs.map(async (run) => {
    const info = catalog.layer(run, view.layer);
    const column = { run, step: null, requestedStep: view.step, page: null, overview: null, error: null };
    if (!info) return { ...column, error: `No layer "${view.layer}" in this run.` };
    const step = nearestStep(info.steps, view.step);
    const wallTime = catalog.wallTime(run, view.layer, step);
    try {
      const [page, overview] = await Promise.all([
        api.fetchFilterPage({
          run, layer: view.layer, step, wallTime,
          offset: order.offset, limit: PAGE_SIZE, windowsLimit: WINDOWS_SHOWN, indices: order.indices, signal,
        }),
        // The cards' effect lines only: without it they are left out, the cards still shown.
        api.fetchOverview({ run, layer: view.layer, step, wallTime, signal }).catch((e) => {
          if (signal.aborted) throw e;
          return null;
        }),
      ]);
      return { ...column, step, page, overview };
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
