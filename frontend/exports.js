// A layer at one step as files to take away: the original notebook's JSON
// export and a CSV of every window. Pure functions over api.js's filters, so
// `node --test` checks them.

import { intervalLabel } from "./format.js";

/**
 * {"Filter_0": [{activation, tweet, position, words}]}: LayerReport.to_notebook_json(), from route data.
 * With interval samples, one more key beside the notebook's (whose keys and values stay as they were):
 * "intervals": {"Filter_0": [{low, high, count, share, windows: [{activation, tweet, position, words}]}]}.
 */
export function notebookJson(filters) {
  const out = {};
  for (const filter of filters) out[`Filter_${filter.index}`] = filter.windows.map(notebookWindow);
  if (filters.some((filter) => filter.intervals)) {
    out.intervals = Object.fromEntries(filters.filter((filter) => filter.intervals).map((filter) => [
      `Filter_${filter.index}`,
      filter.intervals.map(({ low, high, count, share, windows }) => ({
        low, high, count, share, windows: windows.map(notebookWindow),
      })),
    ]));
  }
  return out;
}

function notebookWindow(w) {
  return { activation: w.activation, tweet: w.example, position: w.position, words: w.tokens.join(" ") };
}

export const CSV_COLUMNS = [
  "run", "layer", "step", "filter", "rank", "activation", "count", "example", "position", "window text",
  "original text", "interval",
];

/**
 * One row per window (RFC 4180: CRLF line ends, fields quoted where needed): the top windows, then
 * each interval's sampled windows, whose "interval" says which ("[0.5, 1)"; empty for top windows).
 */
export function windowsCsv(run, layer, step, filters) {
  const rows = [CSV_COLUMNS];
  const addRow = (filter, w, rank, interval) => {
    const original = w.originals ? w.originals.filter(Boolean).join(" ") : "";
    rows.push([run, layer, step, filter.index, rank, w.activation, w.count, w.example, w.position,
      w.tokens.join(" "), original, interval]);
  };
  for (const filter of filters) {
    filter.windows.forEach((w, rank) => addRow(filter, w, rank, ""));
    for (const interval of filter.intervals ?? []) {
      const label = intervalLabel(interval.low, interval.high);
      interval.windows.forEach((w, rank) => addRow(filter, w, rank, label));
    }
  }
  return rows.map((row) => row.map(csvField).join(",")).join("\r\n") + "\r\n";
}

function csvField(value) {
  const text = String(value);
  return /[",\r\n]|^\s|\s$/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
}

/** "kernel3_conv_1_step4.csv": the run, layer and step, safe as a file name. */
export function exportFileName(run, layer, step, extension) {
  const safe = (text) => String(text).replace(/[^\p{L}\p{N}._-]+/gu, "_");
  return `${safe(run)}_${safe(layer)}_step${step}.${extension}`;
}
