// The view state and its URL-hash form: #runs=a,b&layer=conv1d&step=3&filter=7&sort=effect&output=1&align=index
//
// Each value is percent-encoded as a whole, because that is what survives
// TensorBoard: switching tabs, it decodes every hash value and encodes it
// again (runs=a,b comes back as runs=a%2Cb). Inside the decoded runs value,
// names are joined by "," with "\" escaping a "," or "\" in a name.
// Commas are left unencoded when writing, for a readable URL.

export const PAGE_SIZE = 64;

// How the cards can be ordered (order.js); "index" is the default and is left out of links.
export const SORTS = ["index", "effect", "abs_effect", "max", "rate", "least_shared"];

// How runs side by side line up (matching.js): each other run's matched filter
// beside the first run's, or the same index. "match" is the default and is left out of links.
export const ALIGNS = ["match", "index"];

export function emptyView() {
  return { runs: [], layer: null, step: null, filter: null, offset: 0, sort: "index", output: 0, align: "match" };
}

export function parseHash(hash) {
  const state = emptyView();
  const text = String(hash || "").replace(/^#/, "");
  for (const part of text.split("&")) {
    const eq = part.indexOf("=");
    if (eq < 0) continue;
    const key = part.slice(0, eq);
    const raw = part.slice(eq + 1);
    if (key === "runs") {
      state.runs = splitRuns(safeDecode(raw) ?? "");
    } else if (key === "layer") {
      state.layer = safeDecode(raw);
    } else if (key === "step") {
      state.step = parseInteger(raw);
    } else if (key === "filter") {
      state.filter = parseInteger(raw);
    } else if (key === "sort") {
      state.sort = SORTS.includes(raw) ? raw : "index";
    } else if (key === "output") {
      state.output = Math.max(0, parseInteger(raw) ?? 0);
    } else if (key === "align") {
      state.align = ALIGNS.includes(raw) ? raw : "match";
    }
  }
  if (state.filter !== null && state.filter >= 0) {
    state.offset = Math.floor(state.filter / PAGE_SIZE) * PAGE_SIZE;
  } else {
    state.filter = null;
  }
  return state;
}

export function formatHash(state) {
  const parts = [];
  if (state.runs.length) parts.push(`runs=${encodeValue(joinRuns(state.runs))}`);
  if (state.layer !== null) parts.push(`layer=${encodeValue(state.layer)}`);
  if (state.step !== null) parts.push(`step=${state.step}`);
  if (state.filter !== null) parts.push(`filter=${state.filter}`);
  if (state.sort && state.sort !== "index") parts.push(`sort=${state.sort}`);
  if (state.output) parts.push(`output=${state.output}`);
  if (state.align && state.align !== "match") parts.push(`align=${state.align}`);
  return parts.join("&");
}

/** True when the hash carries any of our keys (vs. TensorBoard's own "#filters"). */
export function hasViewKeys(hash) {
  return /(^|[#&])(runs|layer|step|filter|sort|output|align)=/.test(String(hash || ""));
}

function joinRuns(runs) {
  return runs.map((run) => run.replace(/[\\,]/g, (c) => `\\${c}`)).join(",");
}

function splitRuns(value) {
  const runs = [];
  let current = "";
  for (let i = 0; i < value.length; i += 1) {
    if (value[i] === "\\" && i + 1 < value.length) {
      current += value[i + 1];
      i += 1;
    } else if (value[i] === ",") {
      runs.push(current);
      current = "";
    } else {
      current += value[i];
    }
  }
  runs.push(current);
  return runs.filter(Boolean);
}

function encodeValue(text) {
  return encodeURIComponent(text).replace(/%2C/g, ",");
}

function safeDecode(text) {
  try {
    return decodeURIComponent(text);
  } catch (e) {
    return null;
  }
}

function parseInteger(text) {
  return /^-?\d{1,15}$/.test(text) ? Number(text) : null;
}
