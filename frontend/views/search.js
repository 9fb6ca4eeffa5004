// Token search results: which filters, in which runs, want the token in some
// slot (with the slot and score), hold it in a pattern, or among their top
// windows. A click jumps to that filter.

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
  const matches = tokenMatcher(outcome.token, outcome.partial);
  const wants = outcome.wants || [];
  const patterns = outcome.patterns || [];
  if (wants.length) {
    panel.appendChild(el("h3", { text: "Filters that want it in a slot" }));
    panel.appendChild(el("ol", { className: "search-wants" }, wants.map((w) => wantsItem(w, onPick))));
  }
  if (patterns.length) {
    panel.appendChild(el("h3", { text: "Patterns holding it" }));
    panel.appendChild(el("ol", { className: "search-patterns" }, patterns.map((p) => patternItem(p, matches, onPick))));
  }
  if (!outcome.results.length) {
    panel.appendChild(el("p", { className: "note", text: "No filter has this token among its top windows." }));
    return panel;
  }
  if (wants.length || patterns.length) panel.appendChild(el("h3", { text: "Top windows holding it" }));
  const list = el("ol", { className: "search-results" });
  for (const result of outcome.results) list.appendChild(resultItem(result, matches, onPick));
  panel.appendChild(list);
  if (outcome.truncated) {
    panel.appendChild(el("p", { className: "note", text: `Showing the first ${outcome.results.length} matches.` }));
  }
  return panel;
}

function where(result) {
  return el("span", { className: "result-where" }, [
    el("span", { className: "run-name", text: result.run }),
    el("span", { text: ` · ${result.layer} · step ${result.step} · ` }),
    el("strong", { text: `filter ${result.filter}` }),
  ]);
}

function pickButton(result, onPick, className, children) {
  return el("li", {}, [el("button", {
    className,
    attrs: { type: "button" },
    dataset: { run: result.run, layer: result.layer, step: result.step, filter: result.filter },
    on: { click: () => onPick(result) },
  }, children)]);
}

function wantsItem(w, onPick) {
  return pickButton(w, onPick, "search-wants-result", [
    where(w),
    el("span", { className: "result-rank", text: `slot ${w.slot + 1}, score ${formatNumber(w.score)}`,
      title: "the slot of the filter's window where the token raises it most; score: its contribution there" }),
    el("span", { className: "tokens" }, [el("span", { className: "token match", text: w.token })]),
  ]);
}

function patternItem(p, matches, onPick) {
  return pickButton(p, onPick, "search-pattern-result", [
    where(p),
    el("span", { className: "result-rank", text: `×${formatCount(p.count)} (${formatNumber(p.activation)})`,
      title: "×n: occurrences of the pattern's windows in the data; in brackets, the best one's activation" }),
    el("span", { className: "tokens" }, p.tokens.map((t) => el("span", {
      className: t === null ? "token wildcard" : (matches(t) ? "token match" : "token"),
      text: t === null ? "·" : t,
    }))),
  ]);
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
      title: "the filter's best-ranked top window holding the token (#1: its best window), with its activation",
      text: `window #${result.rank + 1} (${formatNumber(result.activation)})` +
        (result.matches > 1 ? `, in ${formatCount(result.matches)} windows` : ""),
    }),
    tokens,
  ]);
  return el("li", {}, [button]);
}
