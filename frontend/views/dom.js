// DOM helpers. Every string reaches the page through textContent or an
// attribute value, never through HTML parsing: tokens are user text (tweets)
// and the plugin iframe is not sandboxed.

import { formatNumber } from "../format.js";

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

// A 64-card page makes thousands of elements, most with few of these options: applyOptions was
// 41 of el()'s 65 ms in a Chromium profile of the first render, so absent options cost nothing
// here (no Object.entries of a fresh {} per option per element).
function applyOptions(node, options) {
  const { className, text, title, attrs, dataset, style, on } = options;
  if (className) node.className = className;
  if (text !== undefined) node.textContent = String(text);
  if (title) node.title = title;
  if (attrs) {
    for (const name in attrs) {
      const value = attrs[name];
      if (value === false || value === null || value === undefined) continue;
      node.setAttribute(name, value === true ? "" : String(value));
    }
  }
  if (dataset) for (const key in dataset) node.dataset[key] = String(dataset[key]);
  if (style) for (const prop in style) node.style.setProperty(prop, String(style[prop]));
  if (on) for (const event in on) node.addEventListener(event, on[event]);
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
 * "show all N <what>" under a list showing its first `shown` items (children
 * matching `items`): a click awaits addFrom(items shown), which appends the
 * rest, and the button then offers "show fewer", which trims the list back.
 * A failed load says so, and another click tries again.
 */
export function moreButton({ className, list, total, what, shown, addFrom, items = ":scope > li" }) {
  const showAll = `show all ${total} ${what}`;
  const button = el("button", { className, attrs: { type: "button" }, text: showAll });
  let expanded = false;
  button.addEventListener("click", async () => {
    if (expanded) {
      const last = list.querySelectorAll(items)[shown - 1];
      while (last && last.nextSibling) list.removeChild(last.nextSibling);
      expanded = false;
      button.textContent = showAll;
      return;
    }
    button.disabled = true;
    button.textContent = "loading…";
    try {
      await addFrom(list.querySelectorAll(items).length);
      expanded = true;
      button.textContent = "show fewer";
    } catch (e) {
      button.textContent = `could not load the ${what}: ${e.message}`;
    } finally {
      button.disabled = false;
    }
  });
  return button;
}

/**
 * A collapsed <details> whose content is fetched when it is first opened:
 * build() resolves to its nodes. Until then it says "loading…"; a failed load
 * says why, and the next opening tries again.
 */
export function lazyDetails(className, summary, build) {
  const details = el("details", { className, dataset: { loaded: "no" } }, [summary]);
  let loading = false;
  details.addEventListener("toggle", async () => {
    if (!details.open || loading || details.dataset.loaded === "yes") return;
    loading = true;
    while (summary.nextSibling) details.removeChild(summary.nextSibling);
    const note = el("p", { className: "note loading", text: "loading…" });
    details.appendChild(note);
    try {
      append(details, await build());
      details.dataset.loaded = "yes";
      note.remove();
    } catch (e) {
      note.className = "note load-error";
      note.textContent = `could not load: ${e.message}`;
    } finally {
      loading = false;
    }
  });
  return details;
}
