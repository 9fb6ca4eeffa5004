// The notice listing the reports the `runs` route could not read.

import { clear, el } from "../views/dom.js";
import { skippedNotice } from "../views/summary.js";

export function noticesPanel(store) {
  const root = el("div", { className: "notices" });
  store.subscribe(({ skipped }, previous) => {
    if (skipped === previous.skipped) return;
    clear(root);
    if (skipped.length) root.appendChild(skippedNotice(skipped));
  });
  return { root };
}
