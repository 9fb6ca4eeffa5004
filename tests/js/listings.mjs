// Listings of the `runs` route as api.fetchRuns() returns them, built small.

/** layers: {name: {steps, numFilters?, wallTimes?}} */
export function runInfo(run, layers) {
  return {
    run,
    layers: Object.entries(layers).map(([layer, { steps, numFilters = 12, wallTimes }]) => ({
      layer,
      steps,
      wallTimes: wallTimes ?? steps.map((step) => 1000 + step),
      latestStep: steps[steps.length - 1] ?? null,
      numFilters,
    })),
  };
}

export function listing(runs, skipped = []) {
  return { runs, skipped };
}

/** Two runs with steps 0-2 of conv1d (12 filters) and conv1d_b (6 filters), as the browser tests' log dir. */
export function twoRuns({ steps = [0, 1, 2] } = {}) {
  const layers = { conv1d: { steps }, conv1d_b: { steps, numFilters: 6 } };
  return listing([runInfo("kernel3", layers), runInfo("kernel5", layers)]);
}
