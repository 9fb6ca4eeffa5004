// The grid's panel: fetches a page of filters of each picked run for every
// new view and shows them, one row per filter; before that, the loading note,
// the listing's error or the empty state. What it shows goes to the store as
// `shown`, which the summary, the pagers and the history panel follow.
// With several runs, each other run is matched to the first (the `match`
// route) and, aligned by match, its column holds the matched filters; each
// run's `dynamics` puts a sparkline on its cards.
// A page's rows are built in order: those the screen shows (and a linked or
// historied row) at once, the rest in short tasks after (chunks.js); the view
// counts as rendered (marks.js) once every row is built.

import * as api from "../api.js";
import { nearestStep, pageOffset } from "../catalog.js";
import { chunkedBuild } from "../chunks.js";
import { comparable, leastSharedOrder, matchedRows, otherIndices } from "../matching.js";
import { filterOrder } from "../order.js";
import { markFetched, markFirstScreen, markRendered } from "../marks.js";
import { PAGE_SIZE } from "../state.js";
import { latestRequest } from "../store.js";
import { navigate } from "../transitions.js";
import { clear, el } from "../views/dom.js";
import { WINDOWS_SHOWN } from "../views/filter_card.js";
import { addDynamics, filterGrid } from "../views/grid.js";
import { emptyState } from "../views/summary.js";

export function gridPanel(store) {
  const root = el("div", { className: "grid-slot", attrs: { "aria-live": "polite" } });
  const request = latestRequest();
  let building = null; // the shown grid's rows still being built
  const show = (node) => {
    building?.cancel();
    root.style.minHeight = "";
    return clear(root).appendChild(node);
  };
  show(el("p", { className: "note loading", text: "Loading runs…" }));

  const load = (state) => request.run(
    (signal) => fetchColumns(state, signal),
    ({ columns, order, dynamics }) => {
      const { grid, whole } = showColumns({ ...state, view: { ...state.view, offset: order.offset } }, columns, order);
      // The sparklines follow the cards, every row built: a layer's first `dynamics` reads every step.
      Promise.all([dynamics, whole]).then(([answers, complete]) => {
        if (complete && root.contains(grid)) addDynamics(grid, columns, answers);
      }, () => {});
    },
  );
  const go = (change, scrollTo) => store.set(navigate(store.state, change, scrollTo));
  const showColumns = ({ view, catalog, scrollTo }, columns, order) => {
    markFetched();
    const { grid, indices, addRow } = filterGrid(columns, {
      offset: view.offset,
      indices: order.indices,
      limit: PAGE_SIZE,
      output: view.output,
      align: view.align,
      highlight: (token) => Boolean(store.state.highlight?.(token)),
      loadAll: (run, step, index) => fetchWholeFilter(catalog, view.layer, run, step, index),
      loadContext: (run, step, example) => api.fetchContext({ run, layer: view.layer, step, example }),
      loadDetails: (run, step, filter) => api.fetchDetails({
        run, layer: view.layer, step, filter, wallTime: catalog.wallTime(run, view.layer, step),
      }),
      onHistory: (index) => store.set({ historyFor: index }),
      onAlign: (align) => go({ align }, null),
      // That run first, on its matched filter: a view of its own, with its own link.
      onOpenMatch: (run, index) => go({ runs: [run, ...view.runs.filter((r) => r !== run)], filter: index, offset: pageOffset(index) }),
    });
    const { rows, whole } = showGrid(grid, indices.length, addRow);
    // Built now: through the linked row and the one the history panel opens under, then what the screen shows.
    rows.upTo(Math.max(indices.indexOf(view.filter), indices.indexOf(store.state.historyFor)) + 1);
    if (view.filter !== null) focusRow(root, view.filter, scrollTo === "filter");
    if (scrollTo === "top") window.scrollTo(0, 0);
    coverScreen(rows, grid);
    const aligned = columns.some((column) => column.rows);
    const total = (aligned && columns[0].page?.num_filters) || catalog.filterCount(view.runs, view.layer);
    store.set({ shown: { view, columns, total } });
    markFirstScreen(rows.built());
    rows.start();
    return { grid, whole };
  };
  /** Shows the grid, its rows to be built; whole: resolves to true once all are, false if replaced first. */
  const showGrid = (grid, count, addRow) => {
    // The slot keeps its height until every row is built: the document shrinking to the first
    // screen would clamp the position of a reader scrolled down (a poll rebuilding the grid).
    const height = root.querySelector(".grid") ? root.offsetHeight : 0;
    show(grid);
    if (height) root.style.minHeight = `${height}px`;
    let settle;
    const whole = new Promise((resolve) => { settle = resolve; });
    building = chunkedBuild(count, addRow, {
      schedule: firstAfterFrame(),
      now: () => performance.now(),
      onDone: (complete) => {
        if (complete) {
          root.style.minHeight = "";
          markRendered();
        }
        settle(complete);
      },
    });
    return { rows: building, whole };
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
 * sort follows the first run's overview, or for "least shared" its matches (so
 * runs side by side keep one order), and a linked filter lands on the page that holds it.
 */
async function pageOrder({ view, catalog }, matches, signal) {
  if (view.sort === "index") return { offset: view.offset, indices: null };
  const order = view.sort === "least_shared"
    ? leastSharedOrder([...matches.values()])
    : filterOrder(await fetchFirstOverview(view, catalog, signal), view.sort, view.output);
  if (!order) return { offset: view.offset, indices: null }; // nothing matched: index order
  const position = view.filter !== null ? order.indexOf(view.filter) : -1;
  const offset = position >= 0 ? pageOffset(position) : view.offset;
  return { offset, indices: order.slice(offset, offset + PAGE_SIZE) };
}

function fetchFirstOverview(view, catalog, signal) {
  const run = view.runs[0];
  const info = catalog.layer(run, view.layer);
  const step = nearestStep(info.steps, view.step);
  return api.fetchOverview({ run, layer: view.layer, step, wallTime: catalog.wallTime(run, view.layer, step), signal });
}

async function fetchColumns(state, signal) {
  const matches = await fetchMatches(state, signal);
  let order;
  try {
    order = await pageOrder(state, matches, signal);
  } catch (e) {
    if (signal.aborted) throw e;
    order = { offset: state.view.offset, indices: null }; // no overview: index order
  }
  const columns = await fetchRunColumns(state, order, matches, signal);
  // Asked once the cards' answers are in, and not awaited: a layer's first `dynamics` reads every
  // step, and asked alongside the page it held the page's answer back on the server.
  return { columns, order, dynamics: fetchAllDynamics(state, signal) };
}

/**
 * Each other run's `match` answer against the first run, at the steps the grid
 * shows (a Map run -> answer); an answer that failed is {run, other_run, error}.
 */
async function fetchMatches({ view, catalog }, signal) {
  const [first, ...others] = view.runs;
  const firstInfo = catalog.layer(first, view.layer);
  if (!firstInfo || !others.length) return new Map();
  const step = nearestStep(firstInfo.steps, view.step);
  const answers = await Promise.all(others.filter((run) => catalog.layer(run, view.layer)).map(async (run) => {
    const otherStep = nearestStep(catalog.layer(run, view.layer).steps, view.step);
    const wallTimes = [catalog.wallTime(first, view.layer, step), catalog.wallTime(run, view.layer, otherStep)];
    try {
      return await api.fetchMatch({ run: first, otherRun: run, layer: view.layer, step, otherStep, wallTimes, signal });
    } catch (e) {
      if (signal.aborted) throw e;
      return { run: first, other_run: run, error: e.message };
    }
  }));
  return new Map(answers.map((answer) => [answer.other_run, answer]));
}

/** Each picked run's `dynamics` of the layer, or null (one step, or the route failed: no sparklines). */
function fetchAllDynamics({ view, catalog }, signal) {
  return Promise.all(view.runs.map(async (run) => {
    const info = catalog.layer(run, view.layer);
    if (!info || info.steps.length < 2) return null;
    try {
      return await api.fetchDynamics({ run, layer: view.layer, stepsKey: catalog.historyKey([run], view.layer), signal });
    } catch (e) {
      if (signal.aborted) throw e;
      return null;
    }
  }));
}

/**
 * The first run's filters on this page: the sorted ones, or from the offset on.
 * Aligned by match, the other runs' columns fetch these filters' matches.
 */
function firstRunRows({ view, catalog }, order) {
  if (order.indices) return order.indices;
  const total = catalog.layer(view.runs[0], view.layer)?.num_filters ?? 0;
  const rows = [];
  for (let index = order.offset; index < Math.min(total, order.offset + PAGE_SIZE); index += 1) rows.push(index);
  return rows;
}

/**
 * Each picked run's page of filters and its overview, at that run's step nearest
 * the slider's. Aligned by match, another run's page holds the first run's rows'
 * matched filters, and its `rows` says which is whose.
 */
function fetchRunColumns(state, order, matches, signal) {
  const { view, catalog } = state;
  const firstRows = firstRunRows(state, order);
  return Promise.all(view.runs.map(async (run, position) => {
    const info = catalog.layer(run, view.layer);
    const match = position > 0 ? matches.get(run) ?? null : null;
    const rows = view.align === "match" && comparable(match) ? matchedRows(firstRows, match) : null;
    const column = { run, step: null, requestedStep: view.step, page: null, overview: null, error: null, match, rows };
    if (!info) return { ...column, error: `No layer "${view.layer}" in this run.` };
    const step = nearestStep(info.steps, view.step);
    const wallTime = catalog.wallTime(run, view.layer, step);
    const pageAt = rows ? { offset: 0, indices: otherIndices(rows) } : order;
    try {
      const [page, overview] = await Promise.all([
        rows && !pageAt.indices.length
          ? null
          : api.fetchFilterPage({ ...cardPage(run, view.layer, step, pageAt), wallTime, signal }),
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

/** The `filters` query of a page of closed cards: the parts a card shows, WINDOWS_SHOWN windows each. */
function cardPage(run, layer, step, { offset, indices }) {
  return { run, layer, step, offset, limit: PAGE_SIZE, windowsLimit: WINDOWS_SHOWN, indices, parts: "card" };
}

/**
 * A deep link's first page and overview, fetched while `runs` is: the grid takes them once `runs`
 * confirms their step (api.prefetch). Only what the link names exactly: a sorted order needs the
 * overview first, and without a run, layer and step the view is only known from `runs`.
 */
export function prefetchLinked(linked) {
  if (!linked || !linked.runs.length || linked.layer === null || linked.step === null) return;
  const order = { offset: linked.offset, indices: null };
  api.prefetch(cardPage(linked.runs[0], linked.layer, linked.step, order), { withPage: linked.sort === "index" });
}

/** One filter with all its windows, for a card's "show all" button. */
async function fetchWholeFilter(catalog, layer, run, step, index) {
  const wallTime = catalog.wallTime(run, layer, step);
  const page = await api.fetchFilterPage({ run, layer, step, wallTime, offset: index, limit: 1 });
  if (!page.filters.length) throw new Error(`no filter ${index}`);
  return page.filters[0];
}

/**
 * Builds rows until the last one starts below the viewport. Rows are laid out at an estimate until
 * they near the viewport (style.css), 300 px where a card is ~460: measured at their real size,
 * the screen gets as many rows as it shows, not half as many again.
 */
function coverScreen(rows, grid) {
  const built = grid.getElementsByClassName("filter-row");
  const measured = [];
  rows.buildWhile(() => {
    const last = built[built.length - 1];
    if (!last) return true;
    last.style.contentVisibility = "visible";
    measured.push(last);
    return last.getBoundingClientRect().top < window.innerHeight;
  });
  for (const row of measured) row.style.contentVisibility = "";
}

/**
 * A scheduler whose first task waits for the frame showing the first screen (a hidden iframe gets
 * no frames: a timeout stands in), then one task after another. A message, not setTimeout, which
 * chained is held back 4 ms a task.
 */
function firstAfterFrame() {
  let framed = false;
  return (step) => {
    if (framed) {
      nextTask(step);
      return;
    }
    framed = true;
    let ran = false;
    const once = () => {
      if (!ran) nextTask(step);
      ran = true;
    };
    requestAnimationFrame(once);
    setTimeout(once, 100);
  };
}

function nextTask(step) {
  const channel = new MessageChannel();
  channel.port1.onmessage = () => {
    channel.port1.close();
    step();
  };
  channel.port2.postMessage(null);
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
