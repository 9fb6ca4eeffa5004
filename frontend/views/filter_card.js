// One filter of one run at one step: a one-line summary, its patterns (the
// top windows grouped by the slots carrying them), slot preferences, its top
// windows in rank order (each opens on its whole example), the windows that
// switch it off, its statistics and its activation histogram.

import { formatCount, formatNumber, formatPercent } from "../format.js";
import { activationBar, clear, el } from "./dom.js";
import { histogramSparkline } from "./histogram.js";

/** Windows rendered at first; the rest on demand, to keep 64-card pages fast. */
export const WINDOWS_SHOWN = 10;
const WINDOW_LINE_PX = 21;
const WINDOW_ROWS = "li.window, li.window-off";

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
  const { filter, run, page } = options;
  const card = el("article", { className: "filter-card", dataset: { run, filter: filter.index } });
  card.appendChild(cardHead(options));
  const detects = page.detects || {};
  const patterned = Boolean(filter.patterns);
  card.appendChild(patternsSection(filter, detects, page, options.loadAll));
  card.appendChild(slotPreferencesSection(filter, detects));
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
  addContextOpener(list, (rank) => windows[rank], options);
  // With patterns, the raw windows are on demand; without, they are the card.
  const windowsHome = patterned
    ? el("details", { className: "raw-windows" }, [el("summary", { text: `windows (${filter.num_windows})` })])
    : card;
  if (patterned) card.appendChild(windowsHome);
  windowsHome.appendChild(list);
  if (!filter.num_windows) {
    windowsHome.appendChild(el("p", { className: "note", text: "No windows recorded for this filter." }));
  }
  if (filter.num_windows > WINDOWS_SHOWN) {
    const loadWindows = async () => {
      if (windows.length < filter.num_windows) windows = (await options.loadAll()).windows;
      return windows.length;
    };
    windowsHome.appendChild(moreButton(list, filter.num_windows, loadWindows, addWindows));
  }
  card.appendChild(inhibitingSection(filter, detects, options));
  return card;
}

/** Why a feature has nothing to show: "not in this report", "not defined for this layer", "turned off". */
function absentNote(name, availability) {
  const why = availability === "not defined"
    ? "not defined for this layer (it is not fed by the embedding)"
    : availability;
  return el("p", { className: `note absent absent-${name.replace(/ /g, "-")}`, text: `${name}: ${why}` });
}

function patternsSection(filter, detects, page, loadAll) {
  if (!filter.patterns) return absentNote("patterns", detects.patterns);
  const share = Math.round((detects.pattern_share || 0) * 100);
  const meaning = `A pattern groups the top windows sharing their tokens in the slots that carry them ` +
    `(a slot counts when it gives at least ${share}% of the window's positive contributions; · is any token). ` +
    `×n: occurrences in the data of windows with this pattern whose activation beats the filter's ` +
    `${page.top_k}th best — all of them, exactly.`;
  const list = el("ol", { className: "patterns", title: meaning });
  const addPatterns = (patterns, from) => patterns.slice(from).forEach((pattern) => list.appendChild(patternRow(pattern)));
  addPatterns(filter.patterns, 0);
  const section = el("section", { className: "patterns-section" }, [el("h4", { text: "patterns" }), list]);
  const total = filter.num_patterns ?? filter.patterns.length;
  if (total > filter.patterns.length && loadAll) {
    const button = el("button", { className: "more-patterns", attrs: { type: "button" }, text: `show all ${total} patterns` });
    button.addEventListener("click", async () => {
      button.disabled = true;
      button.textContent = "loading…";
      try {
        addPatterns((await loadAll()).patterns, list.children.length);
        button.remove();
      } catch (e) {
        button.textContent = `could not load the patterns: ${e.message}`;
        button.disabled = false;
      }
    });
    section.appendChild(button);
  }
  return section;
}

function patternRow(pattern) {
  const tokens = el("span", { className: "tokens" }, pattern.tokens.map((token) => el("span", {
    className: token === null ? "token wildcard" : "token",
    text: token === null ? "·" : token,
  })));
  return el("li", { className: "pattern" }, [
    el("span", { className: "pattern-activation", text: formatNumber(pattern.activation) }),
    el("span", { className: "count", text: `×${formatCount(pattern.count)}`,
      title: `${formatCount(pattern.count)} occurrences; merges ${pattern.windows.length} windows` }),
    tokens,
  ]);
}

function slotPreferencesSection(filter, detects) {
  if (!filter.slot_preferences) return absentNote("slot preferences", detects.slot_preferences);
  const column = (slot) => el("div", { className: "slot" }, [
    el("div", { className: "slot-name", text: `slot ${slot.slot + 1}` }),
    el("ol", { className: "raises" }, slot.raises.map((t) => scoreItem(t, "raises"))),
    el("ol", { className: "lowers" }, slot.lowers.map((t) => scoreItem(t, "lowers"))),
  ]);
  const min = detects.slot_min_count;
  return el("details", { className: "slot-preferences" }, [
    el("summary", {
      text: "slot preferences",
      title: `per slot, the tokens that raise the activation most (top) and lower it most (bottom): ` +
        `score = the token's contribution in that slot; ` +
        (min ? `tokens seen at least ${min} times in the data` : "every token of the vocabulary"),
    }),
    el("div", { className: "slots" }, filter.slot_preferences.map(column)),
  ]);
}

function scoreItem(t, direction) {
  return el("li", { className: `score ${direction}`, title: `score ${formatNumber(t.score)}, seen ${formatCount(t.occurrences)} times` }, [
    el("span", { className: "token", text: t.token }),
    el("span", { className: "score-value", text: formatNumber(t.score) }),
  ]);
}

function inhibitingSection(filter, detects, options) {
  if (!filter.inhibiting) return absentNote("switched off by", detects.inhibiting);
  const windows = filter.inhibiting;
  const list = el("ol", { className: "windows inhibiting-windows" });
  const contributionScale = maxAbsContribution(windows);
  windows.forEach((window, rank) => list.appendChild(windowRow(window, rank, options, contributionScale, "window-off")));
  addTooltips(list, (rank) => windows[rank], options.page);
  addContextOpener(list, (rank) => windows[rank], options);
  const shown = windows.length < (filter.num_inhibiting ?? 0) ? ` (${windows.length} of ${filter.num_inhibiting})` : "";
  return el("details", { className: "inhibiting" }, [
    el("summary", { text: `switched off by${shown}`,
      title: "the windows with the lowest pre-activation (before the activation function), lowest first" }),
    list,
  ]);
}

/** Clicking a window opens its whole example under it; clicking again closes it. */
function addContextOpener(list, windowAt, options) {
  if ((options.page.detects || {}).contexts !== "computed" || !options.loadContext) return;
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
  return el("span", { className: "context-tokens", title: `example ${context.example}` },
    context.tokens.map((token, i) => {
      const classes = ["token"];
      if (context.padding[i]) classes.push("pad");
      if (i >= window.span_start && i < end) classes.push("in-window");
      return el("span", { className: classes.join(" "), text: token });
    }));
}

/** A placeholder where a run has no data for this layer, step or page. */
export function missingCard(run, message) {
  return el("article", { className: "filter-card missing", dataset: { run } }, [
    el("div", { className: "card-head" }, [el("span", { className: "run-name", text: run })]),
    el("p", { className: "note", text: message }),
  ]);
}

function cardHead({ filter, page, run, step, requestedStep }) {
  const summary = filter.summary
    ? el("div", { className: "filter-summary", text: filter.summary, title: "what this filter detects, at a glance" })
    : null;
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
    summary,
  ]);
}

function stat(name, value, explanation) {
  return el("span", { className: `stat stat-${name}`, title: explanation }, [
    el("span", { className: "stat-name", text: name }),
    el("span", { className: "stat-value", text: value }),
  ]);
}

/** className: "window" for the top windows, "window-off" for those that switch the filter off. */
function windowRow(window, rank, { page, scale, highlight }, contributionScale, className = "window") {
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
