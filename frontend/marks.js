// Marks for the browser tests and the benchmark, on <body>: renderCount and
// renderedAt after every view; firstRenderMs (render() called to the first
// view in the DOM), firstBuildMs (its part after the fetches) and
// firstPaintMs (on to the next frame, after layout and paint) once.

let renders = 0;

export function markRenderStart() {
  performance.mark("filters-render-start");
}

/** The first view's data arrived: what follows is building its DOM. */
export function markFetched() {
  if (!renders) performance.mark("filters-fetched");
}

export function markRendered() {
  renders += 1;
  if (renders === 1) markFirstRender();
  document.body.dataset.renderCount = String(renders);
  document.body.dataset.renderedAt = performance.now().toFixed(1);
}

function markFirstRender() {
  performance.mark("filters-rendered");
  const measure = (name, from, to) => performance.measure(name, from, to).duration.toFixed(1);
  document.body.dataset.firstRenderMs = measure("filters-first-render", "filters-render-start", "filters-rendered");
  if (performance.getEntriesByName("filters-fetched").length) {
    document.body.dataset.firstBuildMs = measure("filters-first-build", "filters-fetched", "filters-rendered");
  }
  requestAnimationFrame(() => setTimeout(() => {
    performance.mark("filters-painted");
    document.body.dataset.firstPaintMs = measure("filters-first-paint", "filters-render-start", "filters-painted");
  }));
}
