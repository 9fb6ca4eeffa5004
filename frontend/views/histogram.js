// The activation histogram of one filter as a small SVG bar chart.
//
// Heights are log-scaled: relu layers put most positions in the bucket just
// above zero, and a linear scale would flatten every other bucket to nothing.

import { formatCount, formatNumber, svg } from "./dom.js";

const WIDTH = 132;
const HEIGHT = 30;

/**
 * histogram: counts per bucket; edges: bucket edges (length = counts + 1,
 * first and last may be -Infinity / +Infinity).
 */
export function histogramSparkline(histogram, edges) {
  const counts = histogram || [];
  const first = counts.findIndex((c) => c > 0);
  const chart = svg("svg", {
    class: "histogram",
    width: WIDTH,
    height: HEIGHT,
    viewBox: `0 0 ${WIDTH} ${HEIGHT}`,
    role: "img",
    "aria-label": "activation histogram",
  });
  if (first < 0) return chart;
  let last = counts.length - 1;
  while (counts[last] === 0) last -= 1;
  const shown = counts.slice(first, last + 1);
  const peak = Math.log1p(Math.max(...shown));
  const slot = WIDTH / shown.length;
  shown.forEach((count, i) => {
    const bucket = first + i;
    const height = count > 0 ? Math.max(1.5, (Math.log1p(count) / peak) * (HEIGHT - 2)) : 0;
    const bar = svg("rect", {
      x: (i * slot + 0.5).toFixed(2),
      y: (HEIGHT - height).toFixed(2),
      width: Math.max(1, slot - 1).toFixed(2),
      height: height.toFixed(2),
      class: edges && edges[bucket] < 0 ? "bucket negative" : "bucket",
    });
    const label = svg("title");
    label.textContent = `${bucketLabel(edges, bucket)}: ${formatCount(count)} positions`;
    bar.appendChild(label);
    chart.appendChild(bar);
  });
  return chart;
}

function bucketLabel(edges, bucket) {
  if (!edges || edges.length <= bucket + 1) return `bucket ${bucket}`;
  return `[${formatNumber(edges[bucket])}, ${formatNumber(edges[bucket + 1])})`;
}
