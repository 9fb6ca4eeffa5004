// Deep links. The view is written to this iframe's own URL hash
// (#runs=a,b&layer=conv1d&step=3&filter=7) and mirrored into TensorBoard's
// page hash after its tab name (#filters&runs=a,b&...), which TensorBoard
// keeps and which survives a reload. TensorBoard passes nothing on to plugin
// iframes, so on start the iframe's own hash is read first (the tab's page
// opened on its own: data/plugin_entry.html?name=filters#...), then
// TensorBoard's. The link to copy is TensorBoard's URL, or the tab's own page
// when it is not inside TensorBoard.

import { formatHash, hasViewKeys, parseHash } from "./state.js";
import { followLink } from "./transitions.js";

const TAB_HASH = "filters"; // TensorBoard's hash for this tab: the plugin name

/** Both URLs follow the store's view, and the store follows a link put into either. */
export function syncLinks(store) {
  store.subscribe((state, previous) => {
    if (state.view !== previous.view && viewOnScreen(state)) writeView(state.view);
  });
  onLinkChange((view) => store.set(followLink(store.state, view)), () => viewOnScreen(store.state));
}

/** null before the runs are listed and while there are none: then a link is left as it is. */
function viewOnScreen({ catalog, view }) {
  return catalog && !catalog.isEmpty ? view : null;
}

/** The view a link asks for, or null. */
export function linkedView() {
  if (hasViewKeys(window.location.hash)) return parseHash(window.location.hash);
  const host = tensorBoardWindow();
  if (host && isOurTab(host.location.hash) && hasViewKeys(host.location.hash)) {
    return parseHash(host.location.hash);
  }
  return null;
}

/**
 * Calls onView(view) when either hash is changed to another view (pasted,
 * edited). Coming back to this tab from another one, TensorBoard's hash is
 * a bare "#filters" again: the view on screen, currentView(), is put back.
 */
function onLinkChange(onView, currentView) {
  const follow = (hash) => { if (hasViewKeys(hash)) onView(parseHash(hash)); };
  window.addEventListener("hashchange", () => follow(window.location.hash));
  const host = tensorBoardWindow();
  if (!host) return;
  host.addEventListener("hashchange", () => {
    if (!isOurTab(host.location.hash)) return;
    if (hasViewKeys(host.location.hash)) follow(host.location.hash);
    else if (currentView()) writeView(currentView());
  });
}

/** Replaces (never pushes) both URLs: moving the slider must not flood Back. */
function writeView(state) {
  replaceHash(window, formatHash(state));
  const host = tensorBoardWindow();
  if (host && isOurTab(host.location.hash)) replaceHash(host, `${TAB_HASH}&${formatHash(state)}`);
}

export function viewLink(state) {
  const host = tensorBoardWindow();
  const url = new URL((host || window).location.href);
  url.hash = host ? `${TAB_HASH}&${formatHash(state)}` : formatHash(state);
  return url.href;
}

/** TensorBoard's page around this iframe, when there is one we may read. */
function tensorBoardWindow() {
  try {
    if (window.parent !== window && window.parent.location.href) return window.parent;
  } catch (e) {
    // A cross-origin parent: not TensorBoard's page.
  }
  return null;
}

/** "#filters" or "#filters&...": TensorBoard is showing this tab. */
function isOurTab(hash) {
  return hash === `#${TAB_HASH}` || String(hash).startsWith(`#${TAB_HASH}&`);
}

/** Absolute URLs: a relative "#..." would resolve against <base href="plugin/filters/">. */
function replaceHash(target, hash) {
  const url = new URL(target.location.href);
  url.hash = hash;
  if (url.href !== target.location.href) target.history.replaceState(target.history.state, "", url.href);
}
