// Answers of the `runs` route (keys as http_api.md spells them), built small.

/** layers: {name: {steps, num_filters?, wall_times?}} */
export function runInfo(run, layers) {
  return {
    run,
    layers: Object.entries(layers).map(([layer, { steps, num_filters = 12, wall_times }]) => ({
      layer,
      steps,
      wall_times: wall_times ?? steps.map((step) => 1000 + step),
      latest_step: steps[steps.length - 1] ?? null,
      num_filters,
    })),
  };
}

export function listing(runs, skipped = []) {
  return { runs, skipped };
}

/** Two runs with steps 0-2 of conv1d (12 filters) and conv1d_b (6 filters), as the browser tests' log dir. */
export function twoRuns({ steps = [0, 1, 2] } = {}) {
  const layers = { conv1d: { steps }, conv1d_b: { steps, num_filters: 6 } };
  return listing([runInfo("kernel3", layers), runInfo("kernel5", layers)]);
}
