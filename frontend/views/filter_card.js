// One filter of one run at one step: its top windows in rank order, its
// statistics and its activation histogram.

import { formatCount, formatNumber, formatPercent } from "../format.js";
import { activationBar, el } from "./dom.js";
import { histogramSparkline } from "./histogram.js";

/** Windows rendered at first; the rest on demand, to keep 64-card pages fast. */
export const WINDOWS_SHOWN = 10;
const WINDOW_LINE_PX = 21;

/**
 * One card. options:
 *   filter       a filter object of http_api.md; its windows may be the first few only
 *   page         the `filters` answer it comes from: its distinct, histogram_edges
 *   scale        the activation that fills a whole bar (shared by a row's cards,
 *                so runs compare at a glance)
 *   run, step, requestedStep   for the caption
 *   loadAll      async () => the same filter with all its windows
 *   highlight    (token) => whether the search matches it: such tokens are outlined
 */
export function filterCard(options) {
  const { filter, run } = options;
  const card = el("article", { className: "filter-card", dataset: { run, filter: filter.index } });
  card.appendChild(cardHead(options));
  const list = el("ol", { className: "windows" });
  const contributionScale = maxAbsContribution(filter.windows);
  let windows = filter.windows;
  const addWindows = (from, to) => {
    for (let rank = from; rank < to; rank += 1) {
      list.appendChild(windowRow(windows[rank], rank, options, contributionScale));
    }
  };
  addWindows(0, Math.min(WINDOWS_SHOWN, windows.length));
  addTooltips(list, (rank) => windows[rank], options.page);
  // Lists far off screen skip layout until scrolled near; the estimate is
  // one line per window, so scrolling to a filter lands where it should.
  list.style.containIntrinsicSize = `auto ${list.children.length * WINDOW_LINE_PX}px`;
  card.appendChild(list);
  if (!filter.num_windows) {
    card.appendChild(el("p", { className: "note", text: "No windows recorded for this filter." }));
  }
  if (filter.num_windows > WINDOWS_SHOWN) {
    const loadWindows = async () => {
      if (windows.length < filter.num_windows) windows = (await options.loadAll()).windows;
      return windows.length;
    };
    card.appendChild(moreButton(list, filter.num_windows, loadWindows, addWindows));
  }
  return card;
}

/** A placeholder where a run has no data for this layer, step or page. */
export function missingCard(run, message) {
  return el("article", { className: "filter-card missing", dataset: { run } }, [
    el("div", { className: "card-head" }, [el("span", { className: "run-name", text: run })]),
    el("p", { className: "note", text: message }),
  ]);
}

function cardHead({ filter, page, run, step, requestedStep }) {
  const stats = filter.stats;
  // Said only when this run lacks the slider's step and shows another one.
  const stepBadge = step === requestedStep
    ? null
    : el("span", { className: "step-badge", text: `step ${step} (no step ${requestedStep} in this run)` });
  return el("div", { className: "card-head" }, [
    el("div", { className: "card-caption" }, [
      el("span", { className: "run-name", text: run, title: `run ${run}` }),
      stepBadge,
    ]),
    el("div", { className: "card-stats" }, [
      stat("max", formatNumber(stats.max), "largest activation over all positions"),
      stat("mean", formatNumber(stats.mean), "mean activation over all positions"),
      stat("active", formatPercent(stats.positive_fraction),
        "activation rate: fraction of positions where the activation is above 0"),
      el("span", {
        className: "histogram-wrap",
        title: `activation histogram over ${formatCount(stats.positions)} positions (log count); bias ${formatNumber(filter.bias)}`,
      }, [histogramSparkline(stats.histogram, page.histogram_edges)]),
    ]),
  ]);
}

function stat(name, value, explanation) {
  return el("span", { className: `stat stat-${name}`, title: explanation }, [
    el("span", { className: "stat-name", text: name }),
    el("span", { className: "stat-value", text: value }),
  ]);
}

function windowRow(window, rank, { page, scale, highlight }, contributionScale) {
  const width = scale > 0 ? Math.max(0, Math.min(1, window.activation / scale)) : 0;
  return el("li", { className: "window", dataset: { rank } }, [
    el("span", { className: "rank", text: String(rank + 1) }),
    activationBar(window.activation, width),
    page.distinct
      ? el("span", { className: window.count > 1 ? "count" : "count single", text: `×${formatCount(window.count)}` })
      : null,
    tokenStrip(window, contributionScale, highlight),
  ]);
}

/**
 * Tooltips are written when first hovered: building ~3,000 title strings up
 * front was a sixth of a 64-card page's render time.
 */
function addTooltips(list, windowAt, page) {
  list.addEventListener("mouseover", (event) => {
    const target = event.target;
    const row = target.closest("li.window");
    if (!row) return;
    const window = windowAt(Number(row.dataset.rank));
    if (!row.title) row.title = windowTitle(window, page);
    if (target.classList.contains("token") && !target.title && window.contributions) {
      const slot = Array.prototype.indexOf.call(target.parentNode.children, target);
      const original = target.dataset.original ? ` (text: ${target.dataset.original})` : "";
      target.title = `${window.tokens[slot]}${original}: contribution ${formatNumber(window.contributions[slot])}`;
    }
  });
}

function tokenStrip(window, contributionScale, highlight) {
  const strip = el("span", { className: "tokens" });
  const strongest = strongestSlot(window);
  window.tokens.forEach((token, slot) => {
    const classes = ["token"];
    if (window.padding[slot]) classes.push("pad");
    if (slot === strongest) classes.push("strongest");
    if (highlight && highlight(token)) classes.push("match");
    const span = el("span", { className: classes.join(" "), text: token });
    const original = window.originals ? window.originals[slot] : "";
    // Drawn by CSS from the attribute (never parsed as markup), so the span's text stays the token.
    if (original && original !== token) span.dataset.original = original;
    const contribution = window.contributions ? window.contributions[slot] : null;
    if (contribution !== null && contributionScale > 0) {
      span.style.backgroundColor = contributionColour(contribution / contributionScale);
    }
    strip.appendChild(span);
  });
  return strip;
}

/** The slot with the largest positive contribution, or -1. */
function strongestSlot(window) {
  if (!window.contributions) return -1;
  let best = -1;
  window.contributions.forEach((value, slot) => {
    if (value > 0 && !window.padding[slot] && (best < 0 || value > window.contributions[best])) {
      best = slot;
    }
  });
  return best;
}

/** Orange for tokens that raise the activation, blue for those that lower it. */
function contributionColour(relative) {
  const alpha = Math.min(1, Math.abs(relative)) * 0.8;
  return relative >= 0
    ? `rgba(245, 124, 0, ${alpha.toFixed(3)})`
    : `rgba(30, 136, 229, ${alpha.toFixed(3)})`;
}

function maxAbsContribution(windows) {
  let peak = 0;
  for (const window of windows) {
    for (const value of window.contributions || []) peak = Math.max(peak, Math.abs(value));
  }
  return peak;
}

function windowTitle(window, page) {
  const lines = [
    `activation ${formatNumber(window.activation)}`,
    `${page.distinct ? "first seen in " : ""}example ${window.example}, output position ${window.position}`,
    `input tokens ${window.span_start} to ${window.span_start + window.tokens.length - 1}`,
  ];
  if (page.distinct) lines.push(`occurs ${formatCount(window.count)} times`);
  return lines.join("\n");
}

function moreButton(list, total, loadWindows, addWindows) {
  const showAll = `show all ${total} windows`;
  const button = el("button", { className: "more", attrs: { type: "button" }, text: showAll });
  button.addEventListener("click", async () => {
    if (list.children.length > WINDOWS_SHOWN) {
      while (list.children.length > WINDOWS_SHOWN) list.removeChild(list.lastChild);
      button.textContent = showAll;
      return;
    }
    button.disabled = true;
    button.textContent = "loading…";
    try {
      addWindows(list.children.length, await loadWindows());
      button.textContent = "show fewer";
    } catch (e) {
      button.textContent = `could not load the windows: ${e.message}`;
    } finally {
      button.disabled = false;
    }
  });
  return button;
}
