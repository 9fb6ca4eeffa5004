// A layer at one step as files to take away: the original notebook's JSON
// export and a CSV of every window. Pure functions over api.js's filters, so
// `node --test` checks them.

/** {"Filter_0": [{activation, tweet, position, words}]}: LayerReport.to_notebook_json(), from route data. */
export function notebookJson(filters) {
  const out = {};
  for (const filter of filters) {
    out[`Filter_${filter.index}`] = filter.windows.map((w) => ({
      activation: w.activation,
      tweet: w.example,
      position: w.position,
      words: w.tokens.join(" "),
    }));
  }
  return out;
}

export const CSV_COLUMNS = [
  "run", "layer", "step", "filter", "rank", "activation", "count", "example", "position", "window text",
  "original text",
];

/** One row per window (RFC 4180: CRLF line ends, fields quoted where needed). */
export function windowsCsv(run, layer, step, filters) {
  const rows = [CSV_COLUMNS];
  for (const filter of filters) {
    filter.windows.forEach((w, rank) => {
      const original = w.originals ? w.originals.filter(Boolean).join(" ") : "";
      rows.push([run, layer, step, filter.index, rank, w.activation, w.count, w.example, w.position,
        w.tokens.join(" "), original]);
    });
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
