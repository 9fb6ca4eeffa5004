// The page of filters: one row per filter of the first run, one column per
// picked run. Another run's column shows its matched filter (matching.js),
// or, aligned by index, the filter with the same index.

import { filterDynamics } from "../dynamics.js";
import { LAYER_FACTS_MEANING, effectLine, layerDescription, pageLabel } from "../format.js";
import { matchMark } from "../matching.js";
import { el } from "./dom.js";
import { filterCard, missingCard } from "./filter_card.js";
import { compareBar, matchBadge } from "./match.js";
import { dynamicsLine } from "./sparkline.js";

/**
 * columns: one per picked run, in order:
 *   {run, step, requestedStep, page (the `filters` answer) | null, overview (the `overview` answer) | null,
 *    error: string | null, match (the `match` answer against the first run) | null,
 *    rows (matching.matchedRows: the row's filter -> this run's match) | null when aligned by index}
 * options: {offset, limit, indices (the rows in a sorted order, or null: index order from offset),
 *           output (the chosen output's index), align (the view's), highlight(token), loadAll(run, step, index),
 *           loadContext(run, step, example), loadDetails(run, step, index), onHistory(index), onAlign(align), onOpenMatch(run, index)}
 * Returns {grid, indices, addRow}: the grid holds its header but no rows yet; addRow(position)
 * appends the row of indices[position]. The caller adds them in order, the first screen's at
 * once and the rest after (a 64-card page took ~150 ms to build whole).
 */
export function filterGrid(columns, options) {
  const compare = columns.length > 1;
  const aligned = columns.some((column) => column.rows);
  const grid = el("div", {
    className: compare ? "grid compare" : "grid single",
    style: { "--columns": columns.length },
    dataset: { align: aligned ? "match" : "index" },
  });
  if (compare) grid.appendChild(compareBar(columns, options.align, aligned, options.onAlign));
  if (compare) grid.appendChild(columnHeader(columns));
  const indices = rowIndices(columns, options, aligned);
  return { grid, indices, addRow: (position) => grid.appendChild(filterRow(indices[position], columns, options)) };
}

/** Lined up by match, the rows are the first run's filters; by index, every index any run has. */
function rowIndices(columns, { offset, limit, indices: sorted }, aligned) {
  if (sorted) return sorted;
  const counted = aligned ? columns.slice(0, 1) : columns;
  const total = Math.max(0, ...counted.map((c) => (c.page ? c.page.num_filters : 0)));
  const indices = [];
  for (let index = offset; index < Math.min(total, offset + limit); index += 1) indices.push(index);
  return indices;
}

function columnHeader(columns) {
  return el("div", { className: "column-header" }, [
    el("span", { className: "row-label", text: "filter" }),
    ...columns.map((c) => el("div", { className: "column-run", title: `run ${c.run}` }, [
      el("span", { className: "run-name", text: c.run }),
      c.page ? el("span", { className: "column-facts", text: layerDescription(c.page), title: LAYER_FACTS_MEANING }) : null,
    ])),
  ]);
}

function filterRow(index, columns, options) {
  const found = columns.map((column) => {
    const match = column.rows ? column.rows.get(index) ?? null : null;
    const shown = column.rows ? match?.other ?? null : index;
    return { column, match, shown, filter: shown === null ? null : filterAt(column, shown) };
  });
  const scale = Math.max(0, ...found.map(({ filter }) => (filter ? rowScale(filter) : 0)));
  const history = el("button", {
    className: "history-button",
    attrs: { type: "button" },
    text: "history",
    title: `filter ${index} across the steps of each picked run`,
    on: { click: () => options.onHistory(index) },
  });
  return el("section", {
    className: "filter-row",
    attrs: { id: `filter-${index}` },
    dataset: { filter: index },
  }, [
    el("div", { className: "row-head" }, [el("h3", { text: `Filter ${index}` }), history]),
    el("div", { className: "row-columns" }, found.map(({ column, match, shown, filter }) => (
      filter
        ? decorated(filterCard({
          filter,
          page: column.page,
          scale,
          run: column.run,
          step: column.step,
          requestedStep: column.requestedStep,
          effect: column.overview ? effectLine(column.overview, shown, options.output) : null,
          highlight: options.highlight,
          loadAll: () => options.loadAll(column.run, column.step, shown),
          loadContext: (example) => options.loadContext(column.run, column.step, example),
          loadDetails: () => options.loadDetails(column.run, column.step, shown),
        }), column, match, columns[0].run, options)
        : missingCard(column.run, missingReason(column, shown ?? index, Boolean(column.rows)))
    ))),
  ]);
}

/** The card's match mark (another run lined up by match), under its head. */
function decorated(card, column, match, firstRun, options) {
  if (match) {
    const mark = matchMark(match, firstRun, column.run);
    const head = card.querySelector(".card-head") || card;
    head.appendChild(matchBadge(mark, column.run, () => options.onOpenMatch(column.run, mark.filter)));
  }
  return card;
}

/**
 * Each card's dynamics line under its head, once the runs' `dynamics` answers
 * (one per column, null for none) have come: the grid is shown without them.
 */
export function addDynamics(grid, columns, answers) {
  const byRun = new Map(columns.map((column, i) => [column.run, answers[i]]));
  for (const card of grid.querySelectorAll("article.filter-card[data-filter]")) {
    const answer = byRun.get(card.dataset.run);
    const dynamics = answer ? filterDynamics(answer, Number(card.dataset.filter)) : null;
    if (!dynamics) continue;
    const thresholds = { correlation: answer.correlation_threshold, jaccard: answer.jaccard_threshold };
    (card.querySelector(".card-head") || card).appendChild(dynamicsLine(dynamics, thresholds));
  }
}

function filterAt(column, index) {
  if (!column.page) return null;
  const position = index - column.page.offset;
  const filter = column.page.filters[position];
  return filter && filter.index === index ? filter : column.page.filters.find((f) => f.index === index) || null;
}

function rowScale(filter) {
  const top = filter.windows.length ? filter.windows[0].activation : 0;
  return Math.max(top, Number.isFinite(filter.stats.max) ? filter.stats.max : 0);
}

function missingReason(column, index, aligned) {
  if (column.error) return column.error;
  if (aligned) return "No matched filter.";
  if (column.page && index >= column.page.num_filters) {
    return `This run's layer has ${column.page.num_filters} filters only.`;
  }
  return "No data.";
}

/** "Filters 64–127 of 1024" with previous/next buttons. */
export function pager({ offset, limit, total, onPage }) {
  const button = (text, target, enabled) => el("button", {
    className: "page-button",
    attrs: { type: "button", disabled: !enabled },
    text,
    on: { click: () => onPage(target) },
  });
  return el("nav", { className: "pager", attrs: { "aria-label": "filter pages" } }, [
    button("◀ previous", Math.max(0, offset - limit), offset > 0),
    el("span", { className: "page-label", text: pageLabel({ offset, limit, total }) }),
    button("next ▶", offset + limit, offset + limit < total),
  ]);
}
