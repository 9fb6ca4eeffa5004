// A pager over the grid's pages of filters ("filters 64–127 of 1024"). The
// tab has two, above and below the grid: each is a panel of its own.

import { PAGE_SIZE } from "../state.js";
import { navigate } from "../transitions.js";
import { clear, el } from "../views/dom.js";
import { pager } from "../views/grid.js";

export function pagerPanel(store) {
  const root = el("div", { className: "pager-slot" });
  // Back to the top once the new page is shown: its first row is where reading starts.
  const onPage = (offset) => store.set(navigate(store.state, { offset, filter: null }, "top"));
  store.subscribe(({ shown, catalog }, previous) => {
    if (shown === previous.shown) return;
    clear(root);
    if (!shown) return;
    const { runs, layer, offset } = shown.view;
    // Lined up by match, the rows are the first run's filters only.
    const total = shown.total ?? catalog.filterCount(runs, layer);
    root.appendChild(pager({ offset, limit: PAGE_SIZE, total, onPage }));
  });
  return { root };
}
