// The view state and its URL-hash form: #runs=a,b&layer=conv1d&step=3&filter=7
//
// Each run name is percent-encoded on its own, so a comma inside a run name
// (encoded as %2C) never splits it.

export const PAGE_SIZE = 64;

export function emptyView() {
  return { runs: [], layer: null, step: null, filter: null, offset: 0 };
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
      state.runs = raw.split(",").filter(Boolean).map(safeDecode).filter((r) => r !== null);
    } else if (key === "layer") {
      state.layer = safeDecode(raw);
    } else if (key === "step") {
      state.step = parseInteger(raw);
    } else if (key === "filter") {
      state.filter = parseInteger(raw);
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
  if (state.runs.length) parts.push(`runs=${state.runs.map(encodeURIComponent).join(",")}`);
  if (state.layer !== null) parts.push(`layer=${encodeURIComponent(state.layer)}`);
  if (state.step !== null) parts.push(`step=${state.step}`);
  if (state.filter !== null) parts.push(`filter=${state.filter}`);
  return parts.join("&");
}

/** True when the hash carries any of our keys (vs. TensorBoard's own "#filters"). */
export function hasViewKeys(hash) {
  return /(^|[#&])(runs|layer|step|filter)=/.test(String(hash || ""));
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
