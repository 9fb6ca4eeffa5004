// The Filters tab. TensorBoard loads this module in an iframe whose base URL
// is the plugin's route prefix and calls render() once. Every fetch and
// import is relative, so the tab works under --path_prefix and
// /experiment/<id>/. Deep links: see links.js.

import * as api from "./api.js";
import { Catalog, nearestStep, pageOffset } from "./catalog.js";
import { linkedView, onLinkChange, viewLink, writeView } from "./links.js";
import { emptyView, formatHash, PAGE_SIZE } from "./state.js";
import { createControls } from "./views/controls.js";
import { clear, el, tokenMatcher } from "./views/dom.js";
import { WINDOWS_SHOWN } from "./views/filter_card.js";
import { filterGrid, pager } from "./views/grid.js";
import { historyPanel } from "./views/history.js";
import { searchPanel } from "./views/search.js";
import { emptyState, layerSummary, skippedNotice } from "./views/summary.js";

const SEARCH_LIMIT = 200;
const HISTORY_WINDOWS = 3;

export async function render() {
  performance.mark("filters-render-start");
  loadStylesheet();
  const app = new FiltersApp(document.body);
  await app.start();
}

function loadStylesheet() {
  const link = el("link", { attrs: { rel: "stylesheet", href: new URL("./style.css", import.meta.url).href } });
  document.head.appendChild(link);
}

class FiltersApp {
  constructor(body) {
    this.state = emptyView();
    this.catalog = new Catalog({ runs: [] });
    this.generation = 0; // bumped per view asked for; stale fetches are dropped
    this.renders = 0;
    this.highlight = null; // tokenMatcher() of the open search
    this.historyFor = null; // the filter whose history panel is open
    this.history = null; // {key, histories} last fetched for that panel
    this.controls = createControls({
      onRuns: (runs) => (runs.length ? this.update({ runs }) : this.syncControls()), // keep one run
      onLayer: (layer) => this.update({ layer, offset: 0, filter: null }),
      onStep: (step) => this.update({ step }),
      onFilter: (index) => this.update({ filter: index, offset: pageOffset(index) }),
      onSearch: (token, partial) => this.search(token, partial),
      onCopyLink: () => this.copyLink(),
    });
    this.slots = {
      summary: el("div", { className: "layer-summary" }),
      notices: el("div", { className: "notices" }),
      search: el("div", { className: "search-slot" }),
      history: el("div", { className: "history-slot" }),
      pagerTop: el("div", { className: "pager-slot" }),
      grid: el("div", { className: "grid-slot", attrs: { "aria-live": "polite" } }),
      pagerBottom: el("div", { className: "pager-slot" }),
    };
    const { summary, notices, search, history, pagerTop, grid, pagerBottom } = this.slots;
    body.appendChild(el("div", { className: "filters-app" }, [
      el("header", { className: "app-header" }, [this.controls.root, summary]),
      notices, search, history, pagerTop, grid, pagerBottom,
    ]));
    onLinkChange((view) => this.follow(view), () => (this.catalog.isEmpty ? null : this.state));
  }

  async start() {
    this.show(el("p", { className: "note loading", text: "Loading runs…" }));
    let listing;
    try {
      listing = await api.fetchRuns();
    } catch (e) {
      this.showError(`Could not list the runs: ${e.message}`);
      return;
    }
    this.catalog = new Catalog(listing);
    if (listing.skipped.length) this.slots.notices.appendChild(skippedNotice(listing.skipped));
    if (this.catalog.isEmpty) {
      this.show(emptyState());
      this.markRendered();
      return;
    }
    this.state = this.catalog.resolve(linkedView() ?? emptyView());
    await this.load();
  }

  follow(view) {
    if (this.catalog.isEmpty || formatHash(view) === formatHash(this.state)) return;
    this.state = this.catalog.resolve(view);
    this.load();
  }

  update(change) {
    this.state = this.catalog.resolve({ ...this.state, ...change });
    return this.load();
  }

  async load() {
    const generation = ++this.generation;
    const state = this.state;
    this.syncControls();
    writeView(state);
    const columns = await Promise.all(state.runs.map((run) => this.loadColumn(run, state)));
    if (generation !== this.generation) return; // a newer view was asked for meanwhile
    if (!this.renders) performance.mark("filters-fetched");
    const pages = columns.filter((c) => c.page).map((c) => c.page);
    clear(this.slots.summary);
    if (pages.length) layerSummary(state.layer, pages).forEach((n) => this.slots.summary.appendChild(n));
    this.showPagers(state);
    this.show(filterGrid(columns, {
      offset: state.offset,
      limit: PAGE_SIZE,
      highlight: (token) => Boolean(this.highlight && this.highlight(token)),
      loadAll: (run, step, index) => this.loadFullFilter(run, step, index),
      onHistory: (index) => this.showHistory(index),
    }));
    if (state.filter !== null) this.focusFilter(state.filter);
    if (this.historyFor !== null) this.showHistory(this.historyFor);
    this.markRendered();
  }

  /** One run's page of filters, at that run's step nearest the slider's. */
  async loadColumn(run, state) {
    const info = this.catalog.layer(run, state.layer);
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
    this.controls.setRuns(this.catalog.runs, runs);
    this.controls.setLayers(this.catalog.layersOf(runs), layer);
    this.controls.setSteps(this.catalog.stepsOf(runs, layer), step);
    this.controls.setFilterRange(this.catalog.filterCount(runs, layer), filter);
  }

  showPagers({ runs, layer, offset }) {
    const total = this.catalog.filterCount(runs, layer);
    const onPage = (target) => this.update({ offset: target, filter: null }).then(() => window.scrollTo(0, 0));
    for (const slot of [this.slots.pagerTop, this.slots.pagerBottom]) {
      clear(slot).appendChild(pager({ offset, limit: PAGE_SIZE, total, onPage }));
    }
  }

  focusFilter(index) {
    const row = this.slots.grid.querySelector(`#filter-${index}`);
    if (!row) return;
    row.classList.add("focused");
    row.scrollIntoView({ block: "start" });
    // Once the rows it scrolled past are laid out for real, land again.
    requestAnimationFrame(() => row.scrollIntoView({ block: "start" }));
  }

  async showHistory(index) {
    this.historyFor = index;
    const { runs, layer, step } = this.state;
    const key = JSON.stringify([index, layer, runs]);
    if (this.history?.key !== key) {
      const histories = await Promise.all(runs.map((run) => this.loadHistory(run, layer, index)));
      this.history = { key, histories };
    }
    if (this.historyFor !== index || layer !== this.state.layer) return; // closed or moved on meanwhile
    const { histories } = this.history;
    this.placeHistory(index, historyPanel({
      index, layer, histories, currentStep: step,
      onStep: (target) => this.update({ step: target, filter: index, offset: pageOffset(index) }),
      onClose: () => { this.historyFor = null; this.placeHistory(index, null); },
    }));
  }

  async loadHistory(run, layer, index) {
    try {
      return { run, ...(await api.fetchFilterHistory({ run, layer, filter: index, windowsLimit: HISTORY_WINDOWS })) };
    } catch (e) {
      return { run, error: e.message };
    }
  }

  /** Right under the filter's row, so stepping through keeps both in sight. */
  placeHistory(index, panel) {
    this.slots.grid.querySelector(".history-panel")?.remove();
    clear(this.slots.history);
    if (!panel) return;
    const row = this.slots.grid.querySelector(`#filter-${index}`);
    if (row) row.after(panel);
    else this.slots.history.appendChild(panel);
  }

  async search(rawToken, partial) {
    const token = rawToken.trim();
    if (!token) {
      this.closeSearch();
      return;
    }
    // Search the step on screen, unless it is the latest: then each run's latest.
    const latest = this.catalog.stepsOf(this.state.runs, this.state.layer).slice(-1)[0];
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
    clear(this.slots.search).appendChild(searchPanel(outcome, (result) => this.jumpTo(result), () => this.closeSearch()));
  }

  closeSearch() {
    clear(this.slots.search);
    this.highlight = null;
    this.markMatches();
  }

  /** Outlines the searched token in the cards already shown. */
  markMatches() {
    for (const token of this.slots.grid.querySelectorAll(".filter-card .token")) {
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
    const link = viewLink(this.state);
    const done = (copied) => this.controls.showLink(link, copied);
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(link).then(() => done(true), () => done(false));
    } else {
      done(false);
    }
  }

  show(node) {
    clear(this.slots.grid).appendChild(node);
  }

  showError(text) {
    this.show(el("p", { className: "error", attrs: { role: "alert" }, text }));
    this.markRendered();
  }

  /**
   * Marks for the browser tests and the benchmark, on <body>: renderCount
   * and renderedAt after every view; firstRenderMs (render() called to the
   * first view in the DOM), firstBuildMs (its part after the fetches) and
   * firstPaintMs (on to the next frame, after layout and paint) once.
   */
  markRendered() {
    this.renders += 1;
    if (this.renders === 1) markFirstRender();
    document.body.dataset.renderCount = String(this.renders);
    document.body.dataset.renderedAt = performance.now().toFixed(1);
  }
}

function markFirstRender() {
  performance.mark("filters-rendered");
  const measure = (name, from, to) => performance.measure(name, from, to).duration.toFixed(1);
  document.body.dataset.firstRenderMs = measure("filters-first-render", "filters-render-start", "filters-rendered");
  if (performance.getEntriesByName("filters-fetched").length) {
    document.body.dataset.firstBuildMs = measure("filters-first-build", "filters-fetched", "filters-rendered");
  }
  requestAnimationFrame(() => setTimeout(() => {
    performance.mark("filters-painted");
    document.body.dataset.firstPaintMs = measure("filters-first-paint", "filters-render-start", "filters-painted");
  }));
}
