// The layer's one-line summary with its legend, the list of skipped
// reports, and the empty state.

import { LAYER_FACTS_MEANING, formatCount, layerDescription, layerPath, skippedLine } from "../format.js";
import { el } from "./dom.js";

/** pages: the `filters` answers shown for the picked runs (at least one). */
export function layerSummary(layer, pages) {
  const path = layerPath(pages[0].geometry.path || [], layer);
  const total = Math.max(...pages.map((p) => p.num_filters));
  // With one run its facts go here; with several, under each column's run name.
  const facts = pages.length === 1 ? ` · ${layerDescription(pages[0])}` : "";
  return [
    el("p", { title: facts ? LAYER_FACTS_MEANING : "" }, [
      el("strong", { text: layer }), ` · ${formatCount(total)} filters${facts}` + (path ? ` · ${path}` : ""),
    ]),
    legend(pages[0]),
  ];
}

/** What the marks on a card mean, shown with samples of the marks themselves. */
function legend(page) {
  const item = (sample, text, title) => el("span", { className: "legend-item", title }, [sample, text]);
  const token = (className, text) => el("span", { className: `token ${className}`, text });
  return el("div", { className: "legend", attrs: { "aria-label": "legend" } }, [
    item(el("span", { className: "legend-bar" }), "activation of a top window",
      "the bar fills to the window's activation over the largest one in the row"),
    page.distinct
      ? item(el("span", { className: "count", text: "×12" }), "times the window occurs",
        "×n: how many times this exact token window occurs in the data")
      : null,
    page.has_contributions
      ? item(token("legend-up", "word"), "raises the activation", "the token's contribution (its slot's share of the pre-activation) is positive")
      : null,
    page.has_contributions ? item(token("legend-down", "word"), "lowers it", "the token's contribution is negative") : null,
    page.has_contributions
      ? item(token("strongest", "word"), "strongest token", "the token with the largest positive contribution in the window")
      : null,
    item(token("pad", "<pad>"), "padding", "a slot before or after the example's tokens, or token id 0"),
  ]);
}

/** skipped: the `runs` route's [{run, layer, step, reason}]. */
export function skippedNotice(skipped) {
  const items = skipped.map((report) => el("li", { text: skippedLine(report) }));
  return el("details", { className: "skipped" }, [
    el("summary", { text: `${skipped.length} report(s) could not be read and are not shown` }),
    el("ul", {}, items),
  ]);
}

export function emptyState() {
  return el("div", { className: "empty-state" }, [
    el("h2", { text: "No filters data yet" }),
    el("p", { text: "None of the runs in this log dir holds reports of the filters plugin." }),
    el("p", {}, [
      "Write reports with ",
      el("code", { text: "tb-filters interpret MODEL --data SEQ.npy --vocab VOCAB --logdir DIR" }),
      " or with the ",
      el("code", { text: "tb_filters.FiltersCallback" }),
      " Keras callback: they show up here shortly after being written.",
    ]),
  ]);
}
