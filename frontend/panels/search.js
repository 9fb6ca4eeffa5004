// The token search's panel: which filters hold the searched token among their
// top windows. Its results outline the token in the grid's cards (the store's
// `highlight`), and a click on one shows that filter.

import * as api from "../api.js";
import { pageOffset } from "../catalog.js";
import { tokenMatcher } from "../format.js";
import { latestRequest } from "../store.js";
import { navigate } from "../transitions.js";
import { clear, el } from "../views/dom.js";
import { searchPanel as searchView } from "../views/search.js";

const SEARCH_LIMIT = 200;

export function searchPanel(store) {
  const root = el("div", { className: "search-slot" });
  const request = latestRequest();
  const close = () => {
    request.cancel();
    clear(root);
    store.set({ highlight: null });
  };
  const jumpTo = (result) => store.set(navigate(store.state, resultView(store.state.view, result)));
  const search = (state, token, partial) => request.run(
    (signal) => fetchOutcome(state, token, partial, signal),
    (outcome) => {
      store.set({ highlight: tokenMatcher(token, partial) });
      clear(root).appendChild(searchView(outcome, jumpTo, close));
    },
  );

  store.subscribe((state, previous) => {
    if (state.query === previous.query) return;
    const token = state.query.token.trim();
    if (token) search(state, token, state.query.partial);
    else close();
  });
  return { root };
}

async function fetchOutcome({ view, catalog }, token, partial, signal) {
  // The step on screen, unless it is the latest: then each run's latest.
  const latest = catalog?.latestStep(view.runs, view.layer) ?? null;
  const step = view.step === latest ? null : view.step;
  const scope = step === null ? "in each run's latest step" : `at step ${step}`;
  try {
    return { token, partial, scope, ...(await api.searchToken({ token, partial, step, limit: SEARCH_LIMIT, signal })) };
  } catch (e) {
    return { token, error: `Search failed: ${e.message}` };
  }
}

/** The result's filter, its run added to the picked ones. */
function resultView(view, result) {
  const runs = view.runs.includes(result.run) ? view.runs : [...view.runs, result.run];
  return { runs, layer: result.layer, step: result.step, filter: result.filter, offset: pageOffset(result.filter) };
}
