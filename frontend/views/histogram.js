// The activation histogram of one filter, drawn on a small canvas: one
// element per card instead of one per bucket keeps a 64-card page light.
// Hovering a bar names its bucket (the canvas title follows the pointer).
//
// Heights are log-scaled: relu layers put most positions in the bucket just
// above zero, and a linear scale would flatten every other bucket to nothing.

import { formatCount, formatNumber } from "../format.js";
import { el } from "./dom.js";

const WIDTH = 132;
const HEIGHT = 30;
const POSITIVE = "#9e9e9e";
const NEGATIVE = "#90caf9";

/**
 * histogram: counts per bucket; edges: bucket edges (length = counts + 1,
 * first and last may be -Infinity / +Infinity). Only the buckets from the
 * first to the last non-empty one are drawn.
 */
export function histogramSparkline(histogram, edges) {
  const counts = histogram || [];
  const canvas = el("canvas", {
    className: "histogram",
    attrs: { width: WIDTH, height: HEIGHT, role: "img", "aria-label": "activation histogram" },
  });
  const first = counts.findIndex((c) => c > 0);
  if (first < 0) return canvas;
  let last = counts.length - 1;
  while (counts[last] === 0) last -= 1;
  const slot = WIDTH / (last - first + 1);
  draw(canvas, counts, edges, first, last, slot);
  canvas.addEventListener("mousemove", (event) => {
    const bucket = first + Math.min(last - first, Math.floor(event.offsetX / slot));
    canvas.title = `${bucketLabel(edges, bucket)}: ${formatCount(counts[bucket])} positions`;
  });
  return canvas;
}

function draw(canvas, counts, edges, first, last, slot) {
  const context = canvas.getContext("2d");
  if (!context) return;
  const peak = Math.log1p(Math.max(...counts.slice(first, last + 1)));
  for (let bucket = first; bucket <= last; bucket += 1) {
    if (!counts[bucket]) continue;
    const height = Math.max(1.5, (Math.log1p(counts[bucket]) / peak) * (HEIGHT - 2));
    context.fillStyle = edges && edges[bucket + 1] <= 0 ? NEGATIVE : POSITIVE;
    context.fillRect((bucket - first) * slot + 0.5, HEIGHT - height, Math.max(1, slot - 1), height);
  }
}

function bucketLabel(edges, bucket) {
  if (!edges || edges.length <= bucket + 1) return `bucket ${bucket}`;
  return `[${formatNumber(edges[bucket])}, ${formatNumber(edges[bucket + 1])})`;
}
