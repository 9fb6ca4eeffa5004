// The Filters tab. TensorBoard loads this module in an iframe whose base URL
// is the plugin's route prefix and calls render() once. Every fetch and
// import is relative, so the tab works under --path_prefix and
// /experiment/<id>/.
//
// The tab is a store (store.js, its state in transitions.js) and one panel
// per part of the page, each owning its element, its fetch and its render
// (panels/*.js). A new panel is a module and one line in the layout below.

// Every module of the tab, requested at once: found import by import instead, nine
// levels deep, they were most of the time to the first render (tests/js/preload.test.js
// checks this list against the folder).
import "./api.js";
import "./catalog.js";
import "./chunks.js";
import "./dynamics.js";
import "./exports.js";
import "./format.js";
import "./links.js";
import "./listing.js";
import "./marks.js";
import "./matching.js";
import "./order.js";
import "./panels/controls.js";
import "./panels/exports.js";
import "./panels/grid.js";
import "./panels/history.js";
import "./panels/notices.js";
import "./panels/overview.js";
import "./panels/pager.js";
import "./panels/search.js";
import "./panels/summary.js";
import "./state.js";
import "./store.js";
import "./transitions.js";
import "./views/controls.js";
import "./views/detects.js";
import "./views/dom.js";
import "./views/filter_card.js";
import "./views/grid.js";
import "./views/histogram.js";
import "./views/history.js";
import "./views/intervals.js";
import "./views/match.js";
import "./views/overview.js";
import "./views/search.js";
import "./views/sparkline.js";
import "./views/summary.js";
import "./views/windows.js";

import { runsListing } from "./listing.js";
import { linkedView, syncLinks } from "./links.js";
import { markRenderStart } from "./marks.js";
import { controlsPanel } from "./panels/controls.js";
import { exportsPanel } from "./panels/exports.js";
import { gridPanel, prefetchLinked } from "./panels/grid.js";
import { historyPanel } from "./panels/history.js";
import { noticesPanel } from "./panels/notices.js";
import { overviewPanel } from "./panels/overview.js";
import { pagerPanel } from "./panels/pager.js";
import { searchPanel } from "./panels/search.js";
import { summaryPanel } from "./panels/summary.js";
import { createStore } from "./store.js";
import { initialState } from "./transitions.js";
import { el } from "./views/dom.js";

const DEFAULT_POLL_MS = 30_000;

export async function render() {
  markRenderStart();
  prefetchLinked(linkedView());
  loadStylesheet();
  const pollMs = pollInterval();
  const store = createStore(initialState());
  const grid = gridPanel(store);
  document.body.appendChild(el("div", { className: "filters-app" }, [
    el("header", { className: "app-header" }, [
      controlsPanel(store).root, summaryPanel(store).root, exportsPanel(store).root,
    ]),
    noticesPanel(store).root,
    searchPanel(store).root,
    historyPanel(store, grid.root).root,
    overviewPanel(store).root,
    pagerPanel(store).root,
    grid.root,
    pagerPanel(store).root,
  ]));
  syncLinks(store);
  const listing = runsListing(store);
  await listing.start();
  listing.keepPolling(pollMs);
}

/**
 * How often `runs` is asked for new steps. A page may set
 * window.__tbFiltersPollMs (milliseconds) before this module runs, e.g. a
 * browser test through Playwright's add_init_script, which also reaches
 * TensorBoard's plugin iframe; anything but a positive number means the default.
 */
function pollInterval() {
  const wanted = Number(window.__tbFiltersPollMs);
  return Number.isFinite(wanted) && wanted > 0 ? wanted : DEFAULT_POLL_MS;
}

function loadStylesheet() {
  const link = el("link", { attrs: { rel: "stylesheet", href: new URL("./style.css", import.meta.url).href } });
  document.head.appendChild(link);
}
