// The layer overview: one small cell per filter (1024 fit in a 1400 px page
// without scrolling), coloured by the filter's effect on the chosen output
// (blue pushes it up, orange pushes it down), dead filters crossed out,
// duplicates dotted and linked to their original; and the pickers that sort
// the cards. Text reaches the page through textContent only.

import { effectsAbsentLine, formatCount, formatNumber, signedNumber } from "../format.js";
import { SORT_LABELS } from "../order.js";
import { SORTS } from "../state.js";
import { el } from "./dom.js";

/**
 * overview: api.fetchOverview's answer; view: the store's view;
 * on: {jump(index), sort(sort), output(output)}
 */
export function overviewView(overview, view, on) {
  const outputs = overview.outputs;
  const output = Math.min(view.output, Math.max(0, outputs.length - 1));
  const effects = overview.effect_mean[output] || null;
  const absolute = overview.effect_mean_abs[output] || null;
  const scale = effects ? Math.max(1e-12, ...effects.map(Math.abs)) : 1;
  const cells = overview.index.map((index, i) => cell(overview, i, effects, absolute, scale, outputs[output]));
  const map = el("div", {
    className: "filter-map",
    attrs: { role: "list", "aria-label": `filters of ${overview.layer}` },
    on: {
      click: (event) => {
        const target = event.target.closest(".map-cell");
        if (target) on.jump(Number(target.dataset.filter));
      },
      mouseover: (event) => linkDuplicate(map, event.target.closest(".map-cell"), true),
      mouseout: (event) => linkDuplicate(map, event.target.closest(".map-cell"), false),
    },
  }, cells);
  if (view.filter !== null) map.querySelector(`.map-cell[data-filter="${view.filter}"]`)?.classList.add("current");
  return el("section", { className: "layer-overview" }, [
    el("div", { className: "overview-bar" }, [
      el("span", {
        className: "overview-title",
        text: `Layer overview (${overview.run}, step ${overview.step})`,
        title: "one cell per filter, coloured by its effect on the chosen output; click a cell to go to its card",
      }),
      outputPicker(outputs, output, on.output),
      sortPicker(view.sort, outputs.length > 0, view.runs.length > 1, on.sort),
      legend(overview),
    ]),
    outputs.length ? null : el("p", { className: "note effects-note", text: effectsAbsentLine(overview.effects_note) }),
    map,
  ]);
}

function cell(overview, i, effects, absolute, scale, outputName) {
  const index = overview.index[i];
  const dead = Boolean(overview.dead?.[i]);
  const original = overview.duplicate_of[i];
  const classes = ["map-cell"];
  if (dead) classes.push("dead");
  if (original !== null && original !== undefined) classes.push("duplicate");
  const effect = effects ? effects[i] : null;
  const parts = [`filter ${index}`];
  if (effect !== null) parts.push(`effect on ${outputName}: ${signedNumber(effect)}, mean |change| ${formatNumber(absolute[i])}`);
  parts.push(`max ${formatNumber(overview.max[i])}`, `active ${(100 * overview.positive_fraction[i]).toFixed(1)}%`);
  if (dead) parts.push("dead");
  if (classes.includes("duplicate")) parts.push(`duplicate of filter ${original}`);
  return el("div", {
    className: classes.join(" "),
    title: parts.join(" · "),
    attrs: { role: "listitem" },
    dataset: { filter: index, ...(classes.includes("duplicate") ? { duplicateOf: original } : {}) },
    style: dead ? {} : { background: colour(effect, scale) },
  });
}

/** Diverging: white at 0, blue for pushing the output up, orange for down. */
export function colour(effect, scale) {
  if (effect === null || !Number.isFinite(effect)) return "#e6e6e6";
  const strength = Math.min(1, Math.abs(effect) / scale);
  const lightness = 96 - 52 * Math.sqrt(strength);
  return effect >= 0 ? `hsl(211, 75%, ${lightness}%)` : `hsl(28, 90%, ${lightness}%)`;
}

function linkDuplicate(map, target, on) {
  if (!target?.dataset.duplicateOf) return;
  map.querySelector(`.map-cell[data-filter="${target.dataset.duplicateOf}"]`)?.classList.toggle("linked", on);
}

function outputPicker(outputs, output, onOutput) {
  if (!outputs.length) return null;
  const select = el("select", {
    className: "output-select",
    attrs: { "aria-label": "output the colours and effect sorts use" },
    on: { change: () => onOutput(Number(select.value)) },
  }, outputs.map((name, i) => el("option", { attrs: { value: String(i) }, text: name })));
  select.value = String(output);
  return el("label", {
    className: "overview-picker",
    title: "the model output whose change, when a filter is zeroed, colours the map, sorts the cards and " +
      "shows on each card",
  }, ["effect on ", select]);
}

const SORT_MEANINGS = {
  index: "filter index order",
  effect: "effect on the chosen output, signed: the filters pushing it up most first",
  abs_effect: "|effect|: the mean absolute change of the chosen output when the filter is zeroed, largest first",
  max: "largest activation over all positions, largest first",
  rate: "activation rate: fraction of positions where the filter is above 0, highest first",
  least_shared: "best correlation with any other picked run's filters, lowest first: what the first run learned alone",
};

function sortPicker(sort, hasEffects, severalRuns, onSort) {
  const choices = SORTS.filter((s) => (hasEffects || !s.includes("effect")) && (severalRuns || s !== "least_shared"));
  const select = el("select", {
    className: "sort-select",
    attrs: { "aria-label": "order of the filter cards" },
    on: { change: () => onSort(select.value) },
  }, choices.map((s) => el("option", { attrs: { value: s }, text: SORT_LABELS[s], title: SORT_MEANINGS[s] })));
  select.value = choices.includes(sort) ? sort : "index";
  return el("label", { className: "overview-picker", title: SORT_MEANINGS[select.value] }, ["sort cards by ", select]);
}

function legend(overview) {
  const dead = overview.dead ? overview.dead.filter(Boolean).length : 0;
  const duplicates = overview.duplicate_of.filter((d) => d !== null && d !== undefined).length;
  const threshold = overview.duplicate_threshold ?? null;
  const item = (swatch, text, title) => el("span", { className: "legend-entry", title }, [el("span", { className: swatch }), text]);
  return el("span", { className: "overview-legend" }, [
    item("swatch up", "pushes up ", "the filter raises the chosen output: zeroing it lowers the output"),
    item("swatch down", "pushes down ", "the filter lowers the chosen output: zeroing it raises the output"),
    item("swatch map-cell dead", `dead (${dead}) `,
      "never above its activation's floor (0 for relu) on the data, or constant"),
    item("swatch map-cell duplicate", `duplicate (${duplicates})`,
      "its activations correlate with an earlier filter's" +
        (threshold === null ? "" : ` above ${formatNumber(threshold)}`) + ", over every position of the sample"),
    overview.sample_examples
      ? el("span", {
        text: ` · ${overview.outputs.length ? "effects" : "duplicates"} over ${formatCount(overview.sample_examples)} examples`,
        title: "effects and duplicates are measured on the first examples interpreted",
      })
      : "",
  ]);
}
