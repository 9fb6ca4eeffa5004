// One filter of one run at one step, as a card: its caption, statistics and
// effect on the chosen output, then what it detects (views/detects.js) and its
// top windows (views/windows.js), which sit under the patterns when it has some.

import { formatCount, formatNumber, formatPercent } from "../format.js";
import { inhibitingSection, patternsSection, slotPreferencesSection, summaryLine } from "./detects.js";
import { el } from "./dom.js";
import { histogramSparkline } from "./histogram.js";
import { rangeSection } from "./intervals.js";
import { topWindows } from "./windows.js";

export { WINDOWS_SHOWN } from "./windows.js";

/**
 * One card. options:
 *   filter       a filter object of http_api.md; its windows may be the first few only
 *   page         the `filters` answer it comes from: its distinct, histogram_edges, detects
 *   effect       format.js's effectLine for this filter ({text, title, absent}), or null
 *   scale        the activation that fills a whole bar (shared by a row's cards,
 *                so runs compare at a glance)
 *   run, step, requestedStep   for the caption
 *   loadAll      async () => the same filter with all its windows
 *   loadContext  async (example) => the `context` answer for that example
 *   loadDetails  async () => the `details` answer: the parts of a `parts=card` page (page.on_demand)
 *   highlight    (token) => whether the search matches it: such tokens are outlined
 */
export function filterCard(options) {
  const { filter, run, page } = options;
  const detects = page.detects || {};
  const card = el("article", { className: "filter-card", dataset: { run, filter: filter.index } }, [
    cardHead(options),
    patternsSection(filter, detects, page, options.loadAll),
    slotPreferencesSection(filter, detects, options),
  ]);
  const windows = topWindows(filter, options);
  // With patterns, the raw windows are on demand; without, they are the card.
  if (filter.patterns) {
    card.appendChild(el("details", { className: "raw-windows" }, [
      el("summary", { text: `windows (${filter.num_windows})`, title: "the filter's top windows, best first" }),
      ...windows,
    ]));
  } else {
    windows.forEach((node) => card.appendChild(node));
  }
  card.appendChild(inhibitingSection(filter, detects, options));
  card.appendChild(rangeSection(filter, detects, options));
  return card;
}

/** A placeholder where a run has no data for this layer, step or page. */
export function missingCard(run, message) {
  return el("article", { className: "filter-card missing", dataset: { run } }, [
    el("div", { className: "card-head" }, [el("span", { className: "run-name", text: run })]),
    el("p", { className: "note", text: message }),
  ]);
}

function cardHead({ filter, page, run, step, requestedStep, effect }) {
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
        title: `activation histogram over ${formatCount(stats.positions)} positions: ` +
          `across, the activation (blue: at most 0); up, the log of the count; bias ${formatNumber(filter.bias)}`,
      }, [histogramSparkline(stats.histogram, page.histogram_edges)]),
    ]),
    effect ? el("div", {
      className: effect.absent ? "filter-effect note absent absent-effects" : "filter-effect",
      text: effect.text,
      title: effect.title,
    }) : null,
    summaryLine(filter),
  ]);
}

function stat(name, value, explanation) {
  return el("span", { className: `stat stat-${name}`, title: explanation }, [
    el("span", { className: "stat-name", text: name }),
    el("span", { className: "stat-value", text: value }),
  ]);
}
