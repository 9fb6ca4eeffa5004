// What a filter detects: its one-line summary, its patterns (the top windows
// grouped by the slots carrying them), its slot preferences and the windows
// that switch it off; or, for each one the report lacks, why and how to get it.

import { absentFeatureLine, formatCount, formatNumber } from "../format.js";
import { el, lazyDetails, moreButton } from "./dom.js";
import { windowList } from "./windows.js";

const SUMMARY_MEANING = "what this filter detects, at a glance: " +
  "\"wants a|b · c\": per slot of its window, the tokens that raise it most (a or b in the first slot, " +
  "c in the next; · is any token); \"detects\": its best pattern; \"top\": its best window";

export function summaryLine(filter) {
  if (!filter.summary) return null;
  return el("div", { className: "filter-summary", text: filter.summary, title: SUMMARY_MEANING });
}

/**
 * Whether the card's page left `feature` out (a `parts=card` page: http_api.md's
 * `on_demand`), so its section fetches it from the `details` route when opened.
 */
export function onDemand(feature, options) {
  return Boolean(options.loadDetails) && (options.page.on_demand || []).includes(feature);
}

/** Why a feature has nothing to show, and how to get it (format.js's absentFeatureLine). */
export function absentNote(feature, availability) {
  return el("p", {
    className: `note absent absent-${feature.replace(/_/g, "-")}`,
    text: absentFeatureLine(feature, availability),
  });
}

export function patternsSection(filter, detects, page, loadAll) {
  if (!filter.patterns) return absentNote("patterns", detects.patterns);
  const share = Math.round((detects.pattern_share || 0) * 100);
  const meaning = `A pattern groups the top windows sharing their tokens in the slots that carry them ` +
    `(a slot counts when it gives at least ${share}% of the window's positive contributions; · is any token). ` +
    `×n: occurrences in the data of windows with this pattern whose activation beats the filter's ` +
    `${page.top_k}th best — all of them, exactly.`;
  const list = el("ol", { className: "patterns", title: meaning });
  filter.patterns.forEach((pattern) => list.appendChild(patternRow(pattern)));
  const section = el("section", { className: "patterns-section" }, [el("h4", { text: "patterns", title: meaning }), list]);
  const total = filter.num_patterns ?? filter.patterns.length;
  if (total > filter.patterns.length && loadAll) {
    section.appendChild(moreButton({
      className: "more-patterns", list, total, what: "patterns", shown: filter.patterns.length,
      addFrom: async (from) => {
        (await loadAll()).patterns.slice(from).forEach((pattern) => list.appendChild(patternRow(pattern)));
      },
    }));
  }
  return section;
}

function patternRow(pattern) {
  const tokens = el("span", { className: "tokens" }, pattern.tokens.map((token) => el("span", {
    className: token === null ? "token wildcard" : "token",
    text: token === null ? "·" : token,
  })));
  return el("li", { className: "pattern" }, [
    el("span", { className: "pattern-activation", text: formatNumber(pattern.activation),
      title: "activation of the best window with this pattern" }),
    el("span", { className: "count", text: `×${formatCount(pattern.count)}`,
      title: `${formatCount(pattern.count)} occurrences; merges ${pattern.windows.length} windows` }),
    tokens,
  ]);
}

export function slotPreferencesSection(filter, detects, options) {
  const lazy = !filter.slot_preferences && onDemand("slot_preferences", options);
  if (!filter.slot_preferences && !lazy) return absentNote("slot_preferences", detects.slot_preferences);
  const column = (slot) => el("div", { className: "slot" }, [
    el("div", { className: "slot-name", text: `slot ${slot.slot + 1}`,
      title: `slot ${slot.slot + 1} of the window: raising tokens above, lowering ones below` }),
    el("ol", { className: "raises" }, slot.raises.map((t) => scoreItem(t, "raises"))),
    el("ol", { className: "lowers" }, slot.lowers.map((t) => scoreItem(t, "lowers"))),
  ]);
  const slots = (preferences) => el("div", { className: "slots" }, preferences.map(column));
  const min = detects.slot_min_count;
  const summary = el("summary", {
    text: "slot preferences",
    title: `per slot, the tokens that raise the activation most (top) and lower it most (bottom): ` +
      `score = the token's contribution in that slot; ` +
      (min ? `tokens seen at least ${min} times in the data` : "every token of the vocabulary"),
  });
  if (lazy) {
    return lazyDetails("slot-preferences", summary, async () => slots((await options.loadDetails()).slot_preferences));
  }
  return el("details", { className: "slot-preferences" }, [summary, slots(filter.slot_preferences)]);
}

function scoreItem(t, direction) {
  return el("li", { className: `score ${direction}`, title: `score ${formatNumber(t.score)}, seen ${formatCount(t.occurrences)} times` }, [
    el("span", { className: "token", text: t.token }),
    el("span", { className: "score-value", text: formatNumber(t.score) }),
  ]);
}

export function inhibitingSection(filter, detects, options) {
  const lazy = !filter.inhibiting && onDemand("inhibiting", options);
  if (!filter.inhibiting && !lazy) return absentNote("inhibiting", detects.inhibiting);
  const title = "the inhibiting windows: those with the lowest pre-activation (before the activation function), " +
    "lowest first";
  if (lazy) {
    const summary = el("summary", { text: `switched off by (${formatCount(filter.num_inhibiting ?? 0)})`, title });
    return lazyDetails("inhibiting", summary,
      async () => windowList((await options.loadDetails()).inhibiting, options, "window-off").list);
  }
  const { list } = windowList(filter.inhibiting, options, "window-off");
  const shown = filter.inhibiting.length < (filter.num_inhibiting ?? 0)
    ? ` (${filter.inhibiting.length} of ${filter.num_inhibiting})`
    : "";
  return el("details", { className: "inhibiting" }, [el("summary", { text: `switched off by${shown}`, title }), list]);
}
