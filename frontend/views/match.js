// Runs side by side, lined up by matched filters: the bar above the grid
// (the "align by" toggle and one line per other run, e.g. "kernel5 shares 41
// of 64 filters with kernel3 (CKA 0.83)") and the mark on another run's card
// (its filter, the correlation, shared or only in the first run).
// matching.js words them; text reaches the page through textContent only.

import { layerLine, layerLineTitle } from "../matching.js";
import { el } from "./dom.js";

const ALIGN_LABELS = { match: "matched filter", index: "index" };
const ALIGN_MEANINGS = {
  match: "each other run's column shows its filter that correlates best with the first run's, on the same probe examples",
  index: "each column shows the filter with the same index: right for checkpoints of one model, not for runs trained apart",
};

/**
 * columns: the grid's columns (their `match`: the `match` answer against the
 * first run, or null); align: the view's; aligned: whether any column is
 * lined up by match; onAlign(align).
 */
export function compareBar(columns, align, aligned, onAlign) {
  const options = Object.entries(ALIGN_LABELS).map(([value, label]) => el("button", {
    className: value === align ? "align-option current" : "align-option",
    attrs: { type: "button", "aria-pressed": value === align ? "true" : "false" },
    dataset: { align: value },
    text: label,
    title: ALIGN_MEANINGS[value],
    on: { click: () => { if (value !== align) onAlign(value); } },
  }));
  const lines = columns.slice(1).filter((column) => column.match).map((column) => el("p", {
    className: "match-line",
    dataset: { run: column.run },
    text: layerLine(column.match),
    title: layerLineTitle(column.match),
  }));
  const fallback = align === "match" && !aligned
    ? el("p", { className: "note align-note", text: "lined up by index: no other run can be matched to the first" })
    : null;
  return el("div", { className: "compare-bar" }, [
    el("div", { className: "align-toggle", attrs: { role: "group", "aria-label": "align runs by" } }, [
      el("span", { className: "field-label", text: "align by" }), ...options,
    ]),
    ...lines,
    fallback,
  ]);
}

/** mark: matching.matchMark(...); onOpen(): show that filter with its run first. */
export function matchBadge(mark, run, onOpen) {
  return el("div", { className: mark.shared ? "match-mark shared" : "match-mark alone", title: mark.title }, [
    el("button", {
      className: "match-open",
      attrs: { type: "button" },
      text: `filter ${mark.filter}`,
      title: `show filter ${mark.filter} of ${run} with ${run} first`,
      on: { click: onOpen },
    }),
    el("span", { className: "match-text", text: mark.text }),
  ]);
}
