// A filter's windows as rows: rank, activation bar, count and tokens coloured
// by their contribution; a click opens the window's whole example. Used for
// the top windows and for the inhibiting ones (views/detects.js).

import { absentFeatureLine, formatCount, formatNumber } from "../format.js";
import { activationBar, clear, el, moreButton } from "./dom.js";

/** Windows rendered at first; the rest on demand, to keep 64-card pages fast. */
export const WINDOWS_SHOWN = 10;
const WINDOW_LINE_PX = 21;
const WINDOW_ROWS = "li.window, li.window-off";

/**
 * The top windows: the first WINDOWS_SHOWN rows, a "show all" button for
 * the rest, and why clicking a row opens nothing when the report keeps no
 * contexts. Returns the nodes to put in the card.
 */
export function topWindows(filter, options) {
  let windows = filter.windows;
  const { list, addRows } = windowList(windows, options, "window", {
    shown: WINDOWS_SHOWN, windowAt: (rank) => windows[rank],
  });
  // Lists far off screen skip layout until scrolled near; the estimate is
  // one line per window, so scrolling to a filter lands where it should.
  list.style.containIntrinsicSize = `auto ${list.children.length * WINDOW_LINE_PX}px`;
  const nodes = [list];
  if (!filter.num_windows) {
    nodes.push(el("p", { className: "note", text: "No windows recorded for this filter." }));
  }
  if (filter.num_windows > WINDOWS_SHOWN) {
    nodes.push(moreButton({
      className: "more", list, total: filter.num_windows, what: "windows", shown: WINDOWS_SHOWN, items: ":scope > li.window",
      addFrom: async (from) => {
        if (windows.length < filter.num_windows) windows = (await options.loadAll()).windows;
        addRows(windows, from);
      },
    }));
  }
  const contexts = (options.page.detects || {}).contexts;
  if (filter.num_windows && contexts !== "computed") {
    nodes.push(el("p", {
      className: "note absent absent-contexts",
      text: absentFeatureLine("contexts", contexts),
      title: "contexts: each window's whole example, opened by clicking the window",
    }));
  }
  return nodes;
}

/**
 * An <ol> of window rows and addRows(windows, from), which appends rows for
 * windows[from..], coloured on the same scale. className: "window" for top
 * windows, "window-off" for inhibiting ones. shown: how many rows at first;
 * windowAt(rank) finds a row's window, also one added later.
 */
export function windowList(windows, options, className, { shown = windows.length, windowAt = (rank) => windows[rank] } = {}) {
  const list = el("ol", { className: className === "window" ? "windows" : "windows inhibiting-windows" });
  const scale = maxAbsContribution(windows);
  const addRows = (source, from, to = source.length) => {
    for (let rank = from; rank < to; rank += 1) list.appendChild(windowRow(source[rank], rank, options, scale, className));
  };
  addRows(windows, 0, Math.min(shown, windows.length));
  addTooltips(list, windowAt, options.page);
  addContextOpener(list, windowAt, options);
  return { list, addRows };
}

/** Clicking a window opens its whole example under it; clicking again closes it. */
function addContextOpener(list, windowAt, options) {
  if ((options.page.detects || {}).contexts !== "computed" || !options.loadContext) return;
  list.classList.add("opens-context");
  list.addEventListener("click", async (event) => {
    const row = event.target.closest(WINDOW_ROWS);
    if (!row || !list.contains(row)) return;
    const next = row.nextElementSibling;
    if (next && next.classList.contains("context")) {
      next.remove();
      return;
    }
    const window = windowAt(Number(row.dataset.rank));
    const holder = el("li", { className: "context", text: "loading the example…" });
    row.after(holder);
    try {
      const context = await options.loadContext(window.example);
      clear(holder).appendChild(contextStrip(context, window));
    } catch (e) {
      holder.textContent = `could not load the example: ${e.message}`;
    }
  });
}

function contextStrip(context, window) {
  const end = window.span_start + window.tokens.length;
  return el("span", { className: "context-tokens", title: `example ${context.example}; the window's tokens are outlined` },
    context.tokens.map((token, i) => {
      const classes = ["token"];
      if (context.padding[i]) classes.push("pad");
      if (i >= window.span_start && i < end) classes.push("in-window");
      return el("span", { className: classes.join(" "), text: token });
    }));
}

function windowRow(window, rank, { page, scale, highlight }, contributionScale, className) {
  const width = scale > 0 ? Math.max(0, Math.min(1, window.activation / scale)) : 0;
  return el("li", { className, dataset: { rank } }, [
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
    const row = target.closest(WINDOW_ROWS);
    if (!row) return;
    const window = windowAt(Number(row.dataset.rank));
    if (!row.title) row.title = windowTitle(window, Number(row.dataset.rank), page, row.className === "window-off");
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

function windowTitle(window, rank, page, inhibiting) {
  const lines = [
    `#${rank + 1}: ${inhibiting ? "pre-activation (before the activation function)" : "activation"} ` +
      formatNumber(window.activation),
    `${page.distinct ? "first seen in " : ""}example ${window.example}, output position ${window.position}`,
    `input tokens ${window.span_start} to ${window.span_start + window.tokens.length - 1}`,
  ];
  if (page.distinct) lines.push(`×${formatCount(window.count)}: occurs ${formatCount(window.count)} times in the data`);
  return lines.join("\n");
}
