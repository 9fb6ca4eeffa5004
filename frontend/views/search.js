// Token search results: which filters, in which runs, hold the token among
// their top windows. A click jumps to that filter.

import { formatCount, formatNumber, tokenMatcher } from "../format.js";
import { el } from "./dom.js";

/**
 * outcome: {token, partial, scope, results, truncated} or {token, error}
 * onPick(result): called with the clicked result.
 */
export function searchPanel(outcome, onPick, onClose) {
  const close = el("button", {
    className: "close-button",
    attrs: { type: "button", "aria-label": "close search results" },
    text: "×",
    on: { click: onClose },
  });
  const heading = el("div", { className: "panel-head" }, [
    el("h2", {}, ["Filters whose top windows contain ", el("q", { className: "token-literal", text: outcome.token })]),
    el("span", { className: "note", text: outcome.scope || "" }),
    close,
  ]);
  const panel = el("section", { className: "search-panel", attrs: { "aria-label": "search results" } }, [heading]);
  if (outcome.error) {
    panel.appendChild(el("p", { className: "error", text: outcome.error }));
    return panel;
  }
  if (!outcome.results.length) {
    panel.appendChild(el("p", { className: "note", text: "No filter has this token among its top windows." }));
    return panel;
  }
  const list = el("ol", { className: "search-results" });
  const matches = tokenMatcher(outcome.token, outcome.partial);
  for (const result of outcome.results) list.appendChild(resultItem(result, matches, onPick));
  panel.appendChild(list);
  if (outcome.truncated) {
    panel.appendChild(el("p", { className: "note", text: `Showing the first ${outcome.results.length} matches.` }));
  }
  return panel;
}

function resultItem(result, matches, onPick) {
  const tokens = el("span", { className: "tokens" }, (result.tokens || []).map((t) => el("span", {
    className: matches(t) ? "token match" : "token",
    text: t,
  })));
  const button = el("button", {
    className: "search-result",
    attrs: { type: "button" },
    dataset: { run: result.run, layer: result.layer, step: result.step, filter: result.filter },
    on: { click: () => onPick(result) },
  }, [
    el("span", { className: "result-where" }, [
      el("span", { className: "run-name", text: result.run }),
      el("span", { text: ` · ${result.layer} · step ${result.step} · ` }),
      el("strong", { text: `filter ${result.filter}` }),
    ]),
    el("span", {
      className: "result-rank",
      text: `window #${result.rank + 1} (${formatNumber(result.activation)})` +
        (result.matches > 1 ? `, in ${formatCount(result.matches)} windows` : ""),
    }),
    tokens,
  ]);
  return el("li", {}, [button]);
}
