// DOM helpers. Every string reaches the page through textContent or an
// attribute value, never through HTML parsing: tokens are user text (tweets)
// and the plugin iframe is not sandboxed.

/**
 * Creates an element.
 * options: {className, text, title, attrs: {name: value}, dataset: {k: v},
 *           style: {prop: value}, on: {event: handler}}
 * children: nodes or strings (strings become text nodes); null/false skipped.
 */
export function el(tag, options = {}, children = []) {
  const node = document.createElement(tag);
  applyOptions(node, options);
  append(node, children);
  return node;
}

export function append(node, children) {
  for (const child of [].concat(children)) {
    if (child === null || child === undefined || child === false) continue;
    node.appendChild(typeof child === "string" || typeof child === "number"
      ? document.createTextNode(String(child))
      : child);
  }
  return node;
}

export function clear(node) {
  while (node.firstChild) node.removeChild(node.firstChild);
  return node;
}

function applyOptions(node, options) {
  if (options.className) node.className = options.className;
  if (options.text !== undefined) node.textContent = String(options.text);
  if (options.title) node.title = options.title;
  for (const [name, value] of Object.entries(options.attrs || {})) {
    if (value === false || value === null || value === undefined) continue;
    node.setAttribute(name, value === true ? "" : String(value));
  }
  for (const [key, value] of Object.entries(options.dataset || {})) {
    node.dataset[key] = String(value);
  }
  for (const [prop, value] of Object.entries(options.style || {})) {
    node.style.setProperty(prop, String(value));
  }
  for (const [event, handler] of Object.entries(options.on || {})) {
    node.addEventListener(event, handler);
  }
}

/** Formats an activation-like number compactly: 3 significant digits. */
export function formatNumber(value) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  if (!Number.isFinite(value)) return value > 0 ? "+∞" : "−∞";
  const magnitude = Math.abs(value);
  if (magnitude !== 0 && (magnitude < 0.001 || magnitude >= 1e5)) {
    return value.toExponential(2);
  }
  return Number(value.toPrecision(3)).toString();
}

export function formatPercent(fraction) {
  if (fraction === null || fraction === undefined || Number.isNaN(fraction)) return "–";
  return `${(fraction * 100).toFixed(fraction < 0.1 ? 1 : 0)}%`;
}

export function formatCount(count) {
  // By hand: toLocaleString goes through Intl, slow for thousands of cards' counts.
  return String(Math.trunc(Number(count))).replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/**
 * A bar filled to `fraction` (0..1) with the value written on it: one
 * element, the fill drawn by its background (see .bar-cell in style.css).
 */
export function activationBar(value, fraction, title) {
  const fill = `${(Math.max(0, Math.min(1, fraction)) * 100).toFixed(1)}%`;
  return el("span", { className: "bar-cell", text: formatNumber(value), title, style: { "--fill": fill } });
}

/**
 * A predicate for the search's token: equal (exact) or containing it,
 * ignoring case (partial), as the search route matches. null: no search.
 */
export function tokenMatcher(query, partial) {
  if (!query) return null;
  if (!partial) return (token) => token === query;
  const lowered = query.toLowerCase();
  return (token) => token.toLowerCase().includes(lowered);
}
