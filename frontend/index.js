// The Filters tab. TensorBoard loads this module in an iframe whose base URL
// is the plugin's route prefix and calls render() once. Every fetch and
// import is relative, so the tab works under --path_prefix and
// /experiment/<id>/. Deep links: see links.js. The `runs` route is polled, so
// steps written while the tab is open (FiltersCallback, once per epoch)
// appear without a reload.

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
const DEFAULT_POLL_MS = 30_000;

export async function render() {
  performance.mark("filters-render-start");
  loadStylesheet();
  const pollMs = pollInterval();
  const app = new FiltersApp(document.body);
  await app.start();
  app.keepPolling(pollMs);
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

class FiltersApp {
  constructor(body) {
    this.state = emptyView();
    this.catalog = new Catalog({ runs: [] });
    this.generation = 0; // bumped per view asked for; stale fetches are dropped
    this.listed = false; // a listing of the runs was received
    this.polling = false; // a poll's request of `runs` is in flight
    this.skippedKey = "[]"; // the skipped reports listed in the notices
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
    await this.showListing(listing);
  }

  /** A view from scratch: for the first listing, and when the log dir becomes empty or stops being so. */
  showListing(listing) {
    this.listed = true;
    this.catalog = new Catalog(listing);
    this.showSkipped(listing.skipped);
    if (this.catalog.isEmpty) {
      this.state = emptyView();
      this.syncControls();
      clear(this.slots.summary);
      clear(this.slots.pagerTop);
      clear(this.slots.pagerBottom);
      this.show(emptyState());
      this.markRendered();
      return Promise.resolve();
    }
    this.state = this.catalog.resolve(linkedView() ?? emptyView());
    return this.load();
  }

  keepPolling(intervalMs) {
    setInterval(() => this.poll(), intervalMs);
    // Back from another browser tab or a minimized window: catch up at once.
    document.addEventListener("visibilitychange", () => this.poll());
  }

  async poll() {
    if (document.hidden || this.polling) return;
    this.polling = true;
    let listing;
    try {
      listing = await api.fetchRuns();
    } catch (e) {
      return; // TensorBoard restarting, say: the view stays and the next poll tries again
    } finally {
      this.polling = false;
    }
    await this.takeListing(listing);
  }

  /**
   * A newer listing of the runs. The pickers and the slider's range follow
   * it; the grid is rebuilt only when what it shows changed. On the latest
   * step, the view moves on to a new latest step; elsewhere it stays.
   */
  async takeListing(listing) {
    const before = this.catalog;
    const catalog = new Catalog(listing);
    this.showSkipped(listing.skipped);
    if (this.listed && catalog.fingerprint === before.fingerprint) return;
    if (!this.listed || before.isEmpty || catalog.isEmpty) {
      await this.showListing(listing);
      return;
    }
    this.catalog = catalog;
    const previous = this.state;
    const following = previous.step === before.latestStep(previous.runs, previous.layer);
    // A step TensorBoard's sampling dropped gives way to the nearest one kept.
    const step = following ? null : nearestStep(catalog.stepsOf(previous.runs, previous.layer), previous.step);
    this.state = catalog.resolve({ ...previous, step });
    this.announceChange(before, previous);
    await this.refreshView(before, previous);
  }

  async refreshView(before, previous) {
    const { catalog, state } = this;
    if (JSON.stringify(state) !== JSON.stringify(previous) || catalog.shownKey(state) !== before.shownKey(previous)) {
      await this.load({ scrollToFilter: false });
      return;
    }
    // Same view: the filter box is left alone, it may hold a number being typed.
    const { runs, layer } = state;
    this.controls.setRuns(catalog.runs, runs);
    this.controls.setLayers(catalog.layersOf(runs), layer);
    this.controls.setSteps(catalog.stepsOf(runs, layer), state.step);
    if (this.historyFor !== null && catalog.historyKey(runs, layer) !== before.historyKey(runs, layer)) {
      await this.showHistory(this.historyFor);
    }
  }

  /** Says beside the slider that a later step arrived, or that the step shown was written again. */
  announceChange(before, previous) {
    const { runs, layer, step } = this.state;
    if (layer !== previous.layer) return;
    const latestBefore = before.latestStep(previous.runs, layer);
    const latest = this.catalog.latestStep(runs, layer);
    if (latest !== null && (latestBefore === null || latest > latestBefore)) {
      this.controls.announceStep(`new step ${latest}`);
    } else if (step === previous.step
        && runs.some((run) => before.wallTime(run, layer, step) !== this.catalog.wallTime(run, layer, step))) {
      this.controls.announceStep(`step ${step} written again`);
    }
  }

  showSkipped(skipped) {
    const key = JSON.stringify(skipped);
    if (key === this.skippedKey) return;
    this.skippedKey = key;
    clear(this.slots.notices);
    if (skipped.length) this.slots.notices.appendChild(skippedNotice(skipped));
  }

  follow(view) {
    if (this.catalog.isEmpty || formatHash(view) === formatHash(this.state)) return;
    this.controls.announceStep("");
    this.state = this.catalog.resolve(view);
    this.load();
  }

  update(change) {
    this.controls.announceStep("");
    this.state = this.catalog.resolve({ ...this.state, ...change });
    return this.load();
  }

  /** scrollToFilter: false when a poll rebuilds the grid under a reader who may have scrolled away. */
  async load({ scrollToFilter = true } = {}) {
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
    if (state.filter !== null) this.focusFilter(state.filter, scrollToFilter);
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
        run, layer: state.layer, step: column.step, wallTime: this.catalog.wallTime(run, state.layer, column.step),
        offset: state.offset, limit: PAGE_SIZE, windowsLimit: WINDOWS_SHOWN,
      });
    } catch (e) {
      column.error = `Could not load this run: ${e.message}`;
    }
    return column;
  }

  async loadFullFilter(run, step, index) {
    const { layer } = this.state;
    const wallTime = this.catalog.wallTime(run, layer, step);
    const page = await api.fetchFilterPage({ run, layer, step, wallTime, offset: index, limit: 1 });
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

  focusFilter(index, scroll) {
    const row = this.slots.grid.querySelector(`#filter-${index}`);
    if (!row) return;
    row.classList.add("focused");
    if (!scroll) return;
    row.scrollIntoView({ block: "start" });
    // Once the rows it scrolled past are laid out for real, land again.
    requestAnimationFrame(() => row.scrollIntoView({ block: "start" }));
  }

  async showHistory(index) {
    this.historyFor = index;
    const { runs, layer, step } = this.state;
    const key = JSON.stringify([index, layer, runs, this.catalog.historyKey(runs, layer)]);
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
