// The Filters tab. TensorBoard loads this module in an iframe whose base URL
// is the plugin's route prefix and calls render() once.
//
// Deep links: the view is written to this iframe's own URL hash
// (#runs=a,b&layer=conv1d&step=3&filter=7) and mirrored into TensorBoard's
// page hash after its tab name (#filters&runs=a,b&...), which TensorBoard
// keeps and which survives a reload. TensorBoard passes nothing on to plugin
// iframes, so on start the iframe's own hash is read first (the tab's page
// opened on its own: data/plugin_entry.html?name=filters#...), then
// TensorBoard's. "copy link" gives TensorBoard's URL, or the tab's own page
// when it is not inside TensorBoard.

import * as api from "./api.js";
import { emptyState, formatHash, hasViewKeys, PAGE_SIZE, parseHash } from "./state.js";
import { createControls } from "./views/controls.js";
import { clear, el, formatCount, tokenMatcher } from "./views/dom.js";
import { WINDOWS_SHOWN } from "./views/filter_card.js";
import { filterGrid, layerDescription, pager } from "./views/grid.js";
import { historyPanel } from "./views/history.js";
import { searchPanel } from "./views/search.js";

const DEFAULT_RUNS_PICKED = 2;
const TAB_HASH = "filters"; // TensorBoard's hash for this tab: the plugin name
const SEARCH_LIMIT = 200;

export async function render() {
  performance.mark("filters-render-start");
  loadStylesheet();
  const app = new FiltersApp(document.body);
  window.filtersApp = app; // for the browser tests and the benchmark
  await app.start();
}

function loadStylesheet() {
  const link = el("link", { attrs: { rel: "stylesheet", href: new URL("./style.css", import.meta.url).href } });
  document.head.appendChild(link);
}

class FiltersApp {
  constructor(body) {
    this.state = emptyState();
    this.catalog = new Map(); // run -> Map(layer -> layer info)
    this.skipped = [];
    this.generation = 0;
    this.renders = 0;
    this.highlight = null;
    this.historyFor = null;
    this.controls = createControls({
      onRuns: (runs) => (runs.length ? this.update({ runs }) : this.syncControls()), // keep one run
      onLayer: (layer) => this.update({ layer, offset: 0, filter: null }),
      onStep: (step) => this.update({ step }),
      onFilter: (index) => this.update({ filter: index, offset: pageOffset(index) }),
      onSearch: (token, partial) => this.search(token, partial),
      onCopyLink: () => this.copyLink(),
    });
    this.summary = el("div", { className: "layer-summary" });
    this.notices = el("div", { className: "notices" });
    this.searchSlot = el("div", { className: "search-slot" });
    this.historySlot = el("div", { className: "history-slot" });
    this.pagerTop = el("div", { className: "pager-slot" });
    this.gridSlot = el("div", { className: "grid-slot", attrs: { "aria-live": "polite" } });
    this.pagerBottom = el("div", { className: "pager-slot" });
    this.root = el("div", { className: "filters-app" }, [
      el("header", { className: "app-header" }, [this.controls.root, this.summary]),
      this.notices, this.searchSlot, this.historySlot, this.pagerTop, this.gridSlot, this.pagerBottom,
    ]);
    body.appendChild(this.root);
    this.listenToHashes();
  }

  async start() {
    this.showMessage("Loading runs…");
    let listing;
    try {
      listing = await api.fetchRuns();
    } catch (e) {
      this.showError(`Could not list the runs: ${e.message}`);
      return;
    }
    this.catalog = new Map(listing.runs.map((r) => [r.run, new Map(r.layers.map((l) => [l.layer, l]))]));
    this.skipped = listing.skipped;
    this.showSkipped();
    if (!this.catalog.size) {
      this.showEmpty();
      return;
    }
    this.state = this.resolve(this.initialState());
    await this.load();
  }

  /** The iframe's own hash wins; the view in TensorBoard's hash is the fallback. */
  initialState() {
    if (hasViewKeys(window.location.hash)) return parseHash(window.location.hash);
    const host = tensorBoardWindow();
    if (host && isOurTab(host.location.hash)) return parseHash(host.location.hash);
    return emptyState();
  }

  listenToHashes() {
    window.addEventListener("hashchange", () => this.followHash(window.location.hash));
    const host = tensorBoardWindow();
    if (host) {
      host.addEventListener("hashchange", () => {
        if (isOurTab(host.location.hash)) this.followHash(host.location.hash);
      });
    }
  }

  followHash(hash) {
    if (!hasViewKeys(hash)) return;
    const wanted = parseHash(hash);
    if (formatHash(wanted) === formatHash(this.state) || !this.catalog.size) return;
    this.state = this.resolve(wanted);
    this.load();
  }

  /** Makes a wanted state valid for the catalog: known runs, a layer they have, a step. */
  resolve(wanted) {
    const allRuns = [...this.catalog.keys()];
    let runs = wanted.runs.filter((r) => this.catalog.has(r));
    if (!runs.length) runs = allRuns.slice(0, DEFAULT_RUNS_PICKED);
    const layers = this.layersOf(runs);
    const layer = layers.includes(wanted.layer) ? wanted.layer : layers[0] ?? null;
    const steps = this.stepsOf(runs, layer);
    const step = steps.includes(wanted.step) ? wanted.step : steps[steps.length - 1] ?? null;
    const total = this.filterCount(runs, layer);
    const filter = wanted.filter !== null && wanted.filter < total ? wanted.filter : null;
    const offset = filter !== null ? pageOffset(filter) : Math.min(wanted.offset, pageOffset(Math.max(0, total - 1)));
    return { runs, layer, step, filter, offset };
  }

  layersOf(runs) {
    const names = new Set();
    for (const run of runs) for (const layer of this.catalog.get(run).keys()) names.add(layer);
    return [...names].sort();
  }

  stepsOf(runs, layer) {
    const steps = new Set();
    for (const run of runs) {
      const info = this.catalog.get(run).get(layer);
      if (info) info.steps.forEach((s) => steps.add(s));
    }
    return [...steps].sort((a, b) => a - b);
  }

  filterCount(runs, layer) {
    return Math.max(0, ...runs.map((run) => this.catalog.get(run).get(layer)?.numFilters ?? 0));
  }

  update(change) {
    this.state = this.resolve({ ...this.state, ...change });
    return this.load();
  }

  async load() {
    const generation = ++this.generation;
    const state = this.state;
    this.syncControls();
    this.writeHash();
    const columns = await Promise.all(state.runs.map((run) => this.loadColumn(run, state)));
    if (generation !== this.generation) return; // a newer view was asked for meanwhile
    if (!this.renders) performance.mark("filters-fetched");
    this.showSummary(columns);
    const total = this.filterCount(state.runs, state.layer);
    const onPage = (offset) => this.update({ offset, filter: null }).then(() => window.scrollTo(0, 0));
    clear(this.pagerTop).appendChild(pager({ offset: state.offset, limit: PAGE_SIZE, total, onPage }));
    clear(this.pagerBottom).appendChild(pager({ offset: state.offset, limit: PAGE_SIZE, total, onPage }));
    const grid = filterGrid(columns, {
      offset: state.offset,
      limit: PAGE_SIZE,
      highlight: (token) => Boolean(this.highlight && this.highlight(token)),
      loadAll: (run, step, index) => this.loadFullFilter(run, step, index),
      onHistory: (index) => this.showHistory(index),
    });
    clear(this.gridSlot).appendChild(grid);
    if (state.filter !== null) this.focusFilter(state.filter);
    if (this.historyFor !== null) this.showHistory(this.historyFor);
    this.markRendered();
  }

  async loadColumn(run, state) {
    const info = this.catalog.get(run).get(state.layer);
    const column = { run, step: null, requestedStep: state.step, page: null, error: null };
    if (!info) {
      column.error = `No layer "${state.layer}" in this run.`;
      return column;
    }
    column.step = nearestStep(info.steps, state.step);
    try {
      column.page = await api.fetchFilterPage({
        run, layer: state.layer, step: column.step, offset: state.offset, limit: PAGE_SIZE,
        windowsLimit: WINDOWS_SHOWN,
      });
    } catch (e) {
      column.error = `Could not load this run: ${e.message}`;
    }
    return column;
  }

  async loadFullFilter(run, step, index) {
    const page = await api.fetchFilterPage({ run, layer: this.state.layer, step, offset: index, limit: 1 });
    if (!page.filters.length) throw new Error(`no filter ${index}`);
    return page.filters[0];
  }

  syncControls() {
    const { runs, layer, step, filter } = this.state;
    this.controls.setRuns([...this.catalog.keys()], runs);
    this.controls.setLayers(this.layersOf(runs), layer);
    this.controls.setSteps(this.stepsOf(runs, layer), step);
    this.controls.setFilterRange(this.filterCount(runs, layer), filter);
  }

  /** Replaces (never pushes) both URLs: moving the slider must not flood Back. */
  writeHash() {
    // Absolute URLs: a relative "#..." would resolve against <base href="plugin/filters/">.
    replaceHash(window, formatHash(this.state));
    const host = tensorBoardWindow();
    if (host && isOurTab(host.location.hash)) replaceHash(host, `${TAB_HASH}&${formatHash(this.state)}`);
  }

  focusFilter(index) {
    const row = this.gridSlot.querySelector(`#filter-${index}`);
    if (!row) return;
    for (const old of this.gridSlot.querySelectorAll(".filter-row.focused")) old.classList.remove("focused");
    row.classList.add("focused");
    row.scrollIntoView({ block: "start" });
    // Once the rows it scrolled past are laid out for real, land again.
    requestAnimationFrame(() => row.scrollIntoView({ block: "start" }));
  }

  async showHistory(index) {
    this.historyFor = index;
    const { runs, layer, step } = this.state;
    const histories = await Promise.all(runs.map(async (run) => {
      try {
        return { run, ...(await api.fetchFilterHistory({ run, layer, filter: index, windowsLimit: 3 })) };
      } catch (e) {
        return { run, error: e.message };
      }
    }));
    if (this.historyFor !== index || layer !== this.state.layer) return;
    const panel = historyPanel({
      index, layer, histories, currentStep: step,
      onStep: (target) => this.update({ step: target, filter: index, offset: pageOffset(index) }),
      onClose: () => { this.historyFor = null; clear(this.historySlot); },
    });
    clear(this.historySlot).appendChild(panel);
  }

  async search(rawToken, partial) {
    const token = rawToken.trim();
    if (!token) {
      this.highlight = null;
      this.markMatches();
      clear(this.searchSlot);
      return;
    }
    const latest = this.stepsOf(this.state.runs, this.state.layer).slice(-1)[0];
    const step = this.state.step === latest ? null : this.state.step;
    const scope = step === null ? "in each run's latest step" : `at step ${step}`;
    let outcome;
    try {
      outcome = { token, partial, scope, ...(await api.searchToken({ token, partial, step, limit: SEARCH_LIMIT })) };
    } catch (e) {
      outcome = { token, error: `Search failed: ${e.message}` };
    }
    if (this.controls.searchInput.value.trim() !== token) return; // typed on meanwhile
    this.highlight = tokenMatcher(token, partial);
    this.markMatches();
    const onPick = (result) => this.jumpTo(result);
    const onClose = () => {
      clear(this.searchSlot);
      this.highlight = null;
      this.markMatches();
    };
    clear(this.searchSlot).appendChild(searchPanel(outcome, onPick, onClose));
  }

  /** Outlines the searched token in the cards already shown. */
  markMatches() {
    for (const token of this.gridSlot.querySelectorAll(".filter-card .token")) {
      token.classList.toggle("match", Boolean(this.highlight && this.highlight(token.textContent)));
    }
  }

  jumpTo(result) {
    const runs = this.state.runs.includes(result.run) ? this.state.runs : [...this.state.runs, result.run];
    return this.update({
      runs, layer: result.layer, step: result.step, filter: result.filter, offset: pageOffset(result.filter),
    });
  }

  copyLink() {
    const host = tensorBoardWindow();
    const url = new URL((host || window).location.href);
    url.hash = host ? `${TAB_HASH}&${formatHash(this.state)}` : formatHash(this.state);
    const text = url.href;
    const done = (copied) => this.controls.showLink(text, copied);
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(() => done(true), () => done(false));
    } else {
      done(false);
    }
  }

  showSummary(columns) {
    const pages = columns.filter((c) => c.page).map((c) => c.page);
    clear(this.summary);
    if (!pages.length) return;
    const { geometry, distinct, hasContributions } = pages[0].facts;
    const path = layerPath(geometry.path || [], this.state.layer);
    const total = Math.max(...pages.map((p) => p.numFilters));
    // With one run its facts go here; with several, under each column's run name.
    const facts = pages.length === 1 ? ` · ${layerDescription(pages[0].facts)}` : "";
    this.summary.appendChild(el("p", {}, [
      el("strong", { text: this.state.layer }),
      ` · ${formatCount(total)} filters${facts}` + (path ? ` · ${path}` : ""),
    ]));
    this.summary.appendChild(legend(distinct, hasContributions));
  }

  showSkipped() {
    clear(this.notices);
    if (!this.skipped.length) return;
    const items = this.skipped.map((s) => el("li", {
      text: `${s.run} / ${s.layer}${s.step === null || s.step === undefined ? "" : ` / step ${s.step}`}: ${s.reason}`,
    }));
    this.notices.appendChild(el("details", { className: "skipped" }, [
      el("summary", { text: `${this.skipped.length} report(s) could not be read and are not shown` }),
      el("ul", {}, items),
    ]));
  }

  showEmpty() {
    clear(this.gridSlot).appendChild(el("div", { className: "empty-state" }, [
      el("h2", { text: "No filters data yet" }),
      el("p", { text: "None of the runs in this log dir holds reports of the filters plugin." }),
      el("p", {}, [
        "Write reports with ",
        el("code", { text: "tb-filters interpret MODEL --data SEQ.npy --vocab VOCAB --logdir DIR" }),
        " or with the ",
        el("code", { text: "tb_filters.FiltersCallback" }),
        " Keras callback, then reload.",
      ]),
    ]));
    this.markRendered();
  }

  showMessage(text) {
    clear(this.gridSlot).appendChild(el("p", { className: "note loading", text }));
  }

  showError(text) {
    clear(this.gridSlot).appendChild(el("p", { className: "error", attrs: { role: "alert" }, text }));
    this.markRendered();
  }

  /** Marks for tests and the benchmark: the first paint-ready view and each later one. */
  markRendered() {
    this.renders += 1;
    if (this.renders === 1) {
      performance.mark("filters-rendered");
      const measure = performance.measure("filters-first-render", "filters-render-start", "filters-rendered");
      document.body.dataset.firstRenderMs = measure.duration.toFixed(1);
      if (performance.getEntriesByName("filters-fetched").length) {
        const build = performance.measure("filters-first-build", "filters-fetched", "filters-rendered");
        document.body.dataset.firstBuildMs = build.duration.toFixed(1);
      }
      // The frame after the DOM is built comes after its layout and paint.
      requestAnimationFrame(() => setTimeout(() => {
        performance.mark("filters-painted");
        const painted = performance.measure("filters-first-paint", "filters-render-start", "filters-painted");
        document.body.dataset.firstPaintMs = painted.duration.toFixed(1);
      }));
    }
    document.body.dataset.renderCount = String(this.renders);
    document.body.dataset.renderedAt = performance.now().toFixed(1);
  }
}

/** "tokens → embedding → conv1d": the path ends at the layer itself. */
function layerPath(path, layer) {
  if (!path.length) return "";
  return (path[path.length - 1] === layer ? path : [...path, layer]).join(" → ");
}

/** TensorBoard's page around this iframe, when there is one we may read. */
function tensorBoardWindow() {
  try {
    if (window.parent !== window && window.parent.location.href) return window.parent;
  } catch (e) {
    // A cross-origin parent: not TensorBoard's page.
  }
  return null;
}

/** "#filters" or "#filters&...": TensorBoard is showing this tab. */
function isOurTab(hash) {
  return hash === `#${TAB_HASH}` || String(hash).startsWith(`#${TAB_HASH}&`);
}

function replaceHash(target, hash) {
  const url = new URL(target.location.href);
  url.hash = hash;
  if (url.href !== target.location.href) target.history.replaceState(target.history.state, "", url.href);
}

function pageOffset(index) {
  return Math.floor(Math.max(0, index) / PAGE_SIZE) * PAGE_SIZE;
}

/** The step itself if the run has it, else its latest step before it, else its first. */
function nearestStep(steps, wanted) {
  if (!steps.length) return null;
  if (wanted === null || wanted === undefined) return steps[steps.length - 1];
  let best = steps[0];
  for (const step of steps) if (step <= wanted) best = step;
  return best;
}

/** What the marks on a card mean, shown with samples of the marks themselves. */
function legend(distinct, hasContributions) {
  const item = (sample, text) => el("span", { className: "legend-item" }, [sample, text]);
  const token = (className, text) => el("span", { className: `token ${className}`, text });
  return el("div", { className: "legend", attrs: { "aria-label": "legend" } }, [
    item(el("span", { className: "legend-bar" }), "activation of a top window"),
    distinct ? item(el("span", { className: "count", text: "×12" }), "times the window occurs") : null,
    hasContributions ? item(token("legend-up", "word"), "raises the activation") : null,
    hasContributions ? item(token("legend-down", "word"), "lowers it") : null,
    hasContributions ? item(token("strongest", "word"), "strongest token") : null,
    item(token("pad", "<pad>"), "padding"),
  ]);
}
