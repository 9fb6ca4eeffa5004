// The download buttons: the layer at the step each picked run shows, as the
// notebook's JSON and as CSV, one file per run. Every filter and every window
// is fetched for it (the grid shows one page and a few windows a filter).

import * as api from "../api.js";
import { exportFileName, notebookJson, windowsCsv } from "../exports.js";
import { el } from "../views/dom.js";

const FETCH_FILTERS = 256; // the filters route's page limit

export function exportsPanel(store) {
  const status = el("span", { className: "export-status", attrs: { "aria-live": "polite" } });
  const button = (text, title, format) => el("button", {
    className: `export-${format}`,
    attrs: { type: "button", disabled: true },
    text,
    title,
    on: { click: () => download(store.state, format, status) },
  });
  const json = button("JSON", "download this layer at this step as the notebook's JSON ({\"Filter_0\": [...]})", "json");
  const csv = button("CSV", "download every window of this layer at this step as CSV", "csv");
  const root = el("div", { className: "exports" }, [el("span", { className: "field-label", text: "download" }), json, csv, status]);
  store.subscribe(({ shown }, previous) => {
    if (shown === previous.shown) return;
    const ready = Boolean(shown?.columns.some((column) => column.page));
    json.disabled = !ready;
    csv.disabled = !ready;
  });
  return { root };
}

async function download({ shown, catalog }, format, status) {
  if (!shown) return;
  status.textContent = "preparing…";
  try {
    for (const column of shown.columns.filter((c) => c.page)) {
      const { run, step } = column;
      const layer = shown.view.layer;
      const filters = await allFilters(catalog, run, layer, step);
      const [text, type] = format === "json"
        ? [JSON.stringify(notebookJson(filters), null, 1) + "\n", "application/json"]
        : [windowsCsv(run, layer, step, filters), "text/csv"];
      save(new Blob([text], { type }), exportFileName(run, layer, step, format));
    }
    status.textContent = "";
  } catch (e) {
    status.textContent = `could not download: ${e.message}`;
  }
}

async function allFilters(catalog, run, layer, step) {
  const wallTime = catalog.wallTime(run, layer, step);
  const filters = [];
  let total = Infinity;
  while (filters.length < total) {
    const page = await api.fetchFilterPage({ run, layer, step, wallTime, offset: filters.length, limit: FETCH_FILTERS });
    total = page.num_filters;
    if (!page.filters.length) break;
    filters.push(...page.filters);
  }
  return filters;
}

function save(blob, name) {
  const url = URL.createObjectURL(blob);
  const link = el("a", { attrs: { href: url, download: name } });
  document.body.appendChild(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}
