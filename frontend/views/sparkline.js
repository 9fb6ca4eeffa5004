// A filter's training dynamics on its card: a small SVG line of its
// signature's correlation with the latest step's, step by step, and when it
// settled (dynamics.js computes both). Built with createElementNS and
// attributes only.

import { dynamicsTitle, settledText, sparklinePieces } from "../dynamics.js";
import { el } from "./dom.js";

const SVG = "http://www.w3.org/2000/svg";
const WIDTH = 60;
const HEIGHT = 16;
const PAD = 2; // room for the dots at the edges

/** d: dynamics.filterDynamics(...); thresholds: {correlation, jaccard} of the `dynamics` answer. */
export function dynamicsLine(d, thresholds) {
  return el("div", { className: "filter-dynamics", title: dynamicsTitle(d, thresholds) }, [
    sparkline(d.correlation),
    el("span", { className: d.settled === null ? "settled not-settled" : "settled", text: settledText(d.settled) }),
  ]);
}

function sparkline(values) {
  const svg = svgNode("svg", {
    class: "sparkline",
    width: WIDTH + 2 * PAD,
    height: HEIGHT + 2 * PAD,
    viewBox: `${-PAD} ${-PAD} ${WIDTH + 2 * PAD} ${HEIGHT + 2 * PAD}`,
    role: "img",
    "aria-label": "correlation with the latest step, by step",
  });
  for (const piece of sparklinePieces(values, WIDTH, HEIGHT)) {
    const points = piece.map(([x, y]) => `${x},${y}`).join(" ");
    svg.appendChild(piece.length > 1
      ? svgNode("polyline", { class: "sparkline-line", points })
      : svgNode("circle", { class: "sparkline-dot", cx: piece[0][0], cy: piece[0][1], r: 1.5 }));
  }
  return svg;
}

function svgNode(tag, attrs) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attrs)) node.setAttribute(name, String(value));
  return node;
}
