// One filter across the steps of each picked run: how its top windows changed
// during training.

import { formatNumber, formatPercent } from "../format.js";
import { activationBar, el } from "./dom.js";

const WINDOWS_PER_STEP = 3;

/**
 * histories: per picked run, its `filter` answer {run, steps: [{step, filter}], ...} or {run, error}
 * currentStep: the slider's step (marked); onStep(step): jump there.
 */
export function historyPanel({ index, layer, histories, currentStep, onStep, onClose }) {
  const close = el("button", {
    className: "close-button",
    attrs: { type: "button", "aria-label": "close history" },
    text: "×",
    on: { click: onClose },
  });
  return el("section", { className: "history-panel", attrs: { "aria-label": "filter history" } }, [
    el("div", { className: "panel-head" }, [
      el("h2", { text: `Filter ${index} of ${layer} across steps` }),
      el("span", { className: "note", text: `top ${WINDOWS_PER_STEP} windows per step; click a step to show it` }),
      close,
    ]),
    el("div", { className: "history-columns", style: { "--columns": histories.length } },
      histories.map((history) => historyColumn(history, index, currentStep, onStep))),
  ]);
}

function historyColumn(history, index, currentStep, onStep) {
  // A run lined up by match follows its matched filter: named, as its index differs.
  const name = history.filter !== undefined && history.filter !== index ? `${history.run} · filter ${history.filter}` : history.run;
  const column = el("div", { className: "history-column" }, [el("h3", { className: "run-name", text: name })]);
  if (history.error) {
    column.appendChild(el("p", { className: "note", text: history.error }));
    return column;
  }
  const scale = Math.max(1e-12, ...history.steps.map(({ filter }) => filter.stats.max || 0));
  for (const { step, filter } of history.steps) {
    column.appendChild(stepRow(step, filter, scale, step === currentStep, onStep));
  }
  return column;
}

function stepRow(step, filter, scale, current, onStep) {
  const width = (filter.stats.max || 0) / scale;
  return el("button", {
    className: current ? "history-step current" : "history-step",
    attrs: { type: "button" },
    dataset: { step },
    on: { click: () => onStep(step) },
  }, [
    el("span", { className: "history-label", text: `step ${step}` }),
    activationBar(filter.stats.max, width,
      `max ${formatNumber(filter.stats.max)}, active ${formatPercent(filter.stats.positive_fraction)}`),
    el("span", { className: "history-windows" }, filter.windows.slice(0, WINDOWS_PER_STEP).map((w) => (
      el("span", { className: "tokens" }, w.tokens.map((t, slot) => el("span", {
        className: w.padding[slot] ? "token pad" : "token",
        text: t,
      })))
    ))),
  ]);
}
