// Keeps the store's catalog in step with the `runs` route: listed at start,
// then polled, so steps written while the tab is open (FiltersCallback, once
// per epoch) appear without a reload.

import * as api from "./api.js";
import { linkedView } from "./links.js";
import { latestRequest } from "./store.js";
import { takeListing } from "./transitions.js";

export function runsListing(store) {
  const request = latestRequest();
  const take = (listing) => store.set(takeListing(store.state, listing, linkedView()));
  const fetchListing = (signal) => api.fetchRuns(signal).then((listing) => ({ listing }), (error) => ({ error }));

  return {
    /** Resolves once the first listing, or why it failed, is in the store. */
    start() {
      return request.run(fetchListing, ({ listing, error }) => {
        if (error) store.set({ listingError: `Could not list the runs: ${error.message}` });
        else take(listing);
      });
    },

    keepPolling(intervalMs) {
      const poll = () => {
        // A poll still waiting for TensorBoard is not cut short by the next one.
        if (document.hidden || request.pending) return;
        // A failed poll (TensorBoard restarting, say) leaves the view; the next one tries again.
        request.run(fetchListing, ({ listing }) => {
          if (listing) take(listing);
        });
      };
      setInterval(poll, intervalMs);
      // Back from another browser tab or a minimized window: catch up at once.
      document.addEventListener("visibilitychange", poll);
    },
  };
}
