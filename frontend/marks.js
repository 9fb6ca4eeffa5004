// Marks for the browser tests and the benchmark, on <body>:
//   renderCount, renderedAt  after every view once it is whole (a grid: every row built, also
//                  those below the fold built after the first screen); renderedAt in ms from navigation
//   firstScreenAt  once: the first view's first screen is in the DOM (the grid's rows the viewport
//                  shows, built before the rest), in ms from navigation; the performance mark
//                  "filters-first-screen"; firstScreenRows: how many rows it had
//   firstRenderMs  once: render() called to the first view whole; firstBuildMs its part after the fetches
//   firstPaintMs   once: render() called to the next frame after the first screen (layout and paint)

let renders = 0;
let screened = false;

export function markRenderStart() {
  performance.mark("filters-render-start");
}

/** The first view's data arrived: what follows is building its DOM. */
export function markFetched() {
  if (!renders) performance.mark("filters-fetched");
}

/** The first view's first screen is built, `rows` rows of its grid (the rest may still be on their way). */
export function markFirstScreen(rows = 0) {
  if (screened) return;
  screened = true;
  document.body.dataset.firstScreenRows = String(rows);
  document.body.dataset.firstScreenAt = performance.mark("filters-first-screen").startTime.toFixed(1);
  requestAnimationFrame(() => setTimeout(() => {
    performance.mark("filters-painted");
    document.body.dataset.firstPaintMs = measure("filters-first-paint", "filters-render-start", "filters-painted");
  }));
}

/** A view is whole. A view without a grid (the empty state, an error) is its own first screen. */
export function markRendered() {
  renders += 1;
  if (renders === 1) markFirstRender();
  document.body.dataset.renderCount = String(renders);
  document.body.dataset.renderedAt = performance.now().toFixed(1);
}

function markFirstRender() {
  markFirstScreen();
  performance.mark("filters-rendered");
  document.body.dataset.firstRenderMs = measure("filters-first-render", "filters-render-start", "filters-rendered");
  if (performance.getEntriesByName("filters-fetched").length) {
    document.body.dataset.firstBuildMs = measure("filters-first-build", "filters-fetched", "filters-rendered");
  }
}

function measure(name, from, to) {
  return performance.measure(name, from, to).duration.toFixed(1);
}
