// The layer's one-line summary and legend, beside the toolbar: written from
// the pages the grid shows, so it never describes another view than the grid's.

import { append, clear, el } from "../views/dom.js";
import { layerSummary } from "../views/summary.js";

export function summaryPanel(store) {
  const root = el("div", { className: "layer-summary" });
  store.subscribe(({ shown }, previous) => {
    if (shown === previous.shown) return;
    clear(root);
    const pages = (shown?.columns ?? []).filter((column) => column.page).map((column) => column.page);
    if (pages.length) append(root, layerSummary(shown.view.layer, pages));
  });
  return { root };
}
