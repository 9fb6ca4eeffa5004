// The tab's state (see store.js) and how it moves. Each function takes the
// state and returns the patch to set, and touches nothing else: the rules
// for a new listing, a link and a click are tested without a browser.
//
// A new `view` object is a request to show it: the grid fetches and renders
// on every new one, and keeps what it shows when a listing leaves the view
// object as it was.

import { Catalog, nearestStep } from "./catalog.js";
import { emptyView, formatHash } from "./state.js";

export function initialState() {
  return {
    catalog: null, // a Catalog once the runs were listed
    listingError: null, // why the first listing failed
    skipped: [], // reports the `runs` route could not read
    view: emptyView(), // runs, layer, step, filter, offset: what the URL holds
    scrollTo: null, // where the grid lands once it shows `view`: "filter", "top" or null (stay)
    stepNews: "", // a note beside the step slider, e.g. "new step 3"
    query: null, // {token, partial}: the search box's latest search
    highlight: null, // tokenMatcher() of the search shown, whose tokens are outlined
    historyFor: null, // the filter whose history panel is open
    shown: null, // {view, columns}: what the grid shows, once it shows filters
  };
}

/** The view moved by the reader: picked runs, layer, step, page or filter. */
export function navigate(state, change, scrollTo = "filter") {
  if (!state.catalog || state.catalog.isEmpty) return {};
  return { view: state.catalog.resolve({ ...state.view, ...change }), scrollTo, stepNews: "" };
}

/** A link pasted or edited into either URL; the view on screen already is a no-op. */
export function followLink(state, wanted) {
  if (!state.catalog || state.catalog.isEmpty || formatHash(wanted) === formatHash(state.view)) return {};
  return { view: state.catalog.resolve(wanted), scrollTo: "filter", stepNews: "" };
}

/**
 * A listing of the runs, the first or a polled one. `linked` is the view
 * the page's URL asks for (links.linkedView()), used when the view starts
 * afresh: the first listing, or the log dir becoming empty or no longer so.
 */
export function takeListing(state, listing, linked) {
  const catalog = new Catalog(listing);
  const patch = sameJson(listing.skipped, state.skipped) ? {} : { skipped: listing.skipped };
  const before = state.catalog;
  if (before && catalog.fingerprint === before.fingerprint) return patch;
  if (!before || before.isEmpty || catalog.isEmpty) return { ...patch, ...freshView(catalog, linked) };
  return { ...patch, ...followListing(state, catalog) };
}

function freshView(catalog, linked) {
  const view = catalog.isEmpty ? emptyView() : catalog.resolve(linked ?? emptyView());
  return { catalog, listingError: null, view, scrollTo: "filter" };
}

/**
 * The pickers and the slider's range follow a newer listing, and the grid
 * is fetched again only when what it shows changed. On the latest step the
 * view moves on to a new latest step; elsewhere it stays.
 */
function followListing(state, catalog) {
  const before = state.catalog;
  const previous = state.view;
  const following = previous.step === before.latestStep(previous.runs, previous.layer);
  // A step TensorBoard's sampling dropped gives way to the nearest one kept.
  const step = following ? null : nearestStep(catalog.stepsOf(previous.runs, previous.layer), previous.step);
  const view = catalog.resolve({ ...previous, step });
  const refetch = !sameJson(view, previous) || catalog.shownKey(view) !== before.shownKey(previous);
  const patch = refetch ? { catalog, view, scrollTo: null } : { catalog };
  const news = stepNews(before, catalog, previous, view);
  return news === null ? patch : { ...patch, stepNews: news };
}

/** That a later step arrived, or that the step shown was written again; else null. */
function stepNews(before, catalog, previous, view) {
  const { runs, layer, step } = view;
  if (layer !== previous.layer) return null;
  const latestBefore = before.latestStep(previous.runs, layer);
  const latest = catalog.latestStep(runs, layer);
  if (latest !== null && (latestBefore === null || latest > latestBefore)) return `new step ${latest}`;
  const rewritten = runs.some((run) => before.wallTime(run, layer, step) !== catalog.wallTime(run, layer, step));
  return step === previous.step && rewritten ? `step ${step} written again` : null;
}

function sameJson(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}
