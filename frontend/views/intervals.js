// A filter across its whole activation range (issue 18): how often it fires, then one row per
// activation interval (a positive histogram bucket) with its share of all positions and its
// windows sampled uniformly, coloured by contribution like the top windows (views/windows.js).
// The rows are built when the section is first opened: a page of 64 cards builds none.

import { formatCount, formatNumber, formatPercent, intervalLabel } from "../format.js";
import { absentNote, onDemand } from "./detects.js";
import { el, lazyDetails } from "./dom.js";
import { windowList } from "./windows.js";

const RANGE_MEANING = "each interval of activation (the positive histogram buckets): its share of all positions " +
  "(exact) and windows drawn from it uniformly at random, reproducibly (the smallest hashes of example and position)";

/** The density line and the collapsed "across its range" section, or why the report lacks it. */
export function rangeSection(filter, detects, options) {
  let intervals = absentNote("intervals", detects.intervals);
  if (filter.intervals) intervals = intervalsDetails(filter.intervals, options);
  else if (onDemand("intervals", options)) intervals = fetchedIntervals(filter, options);
  return el("section", { className: "range-section" }, [densityLine(filter, options.page), intervals]);
}

/** "fires on 37% of examples, 4.1% of positions"; null when the report does not count examples. */
function densityLine(filter, page) {
  if (filter.active_examples === null || filter.active_examples === undefined) return null;
  const examples = page.num_examples ? filter.active_examples / page.num_examples : NaN;
  return el("div", {
    className: "density",
    text: `fires on ${formatPercent(examples)} of examples, ${formatPercent(filter.stats.positive_fraction)} of positions`,
    title: `above 0 somewhere in ${formatCount(filter.active_examples)} of ${formatCount(page.num_examples)} ` +
      "examples, and at that share of all positions",
  });
}

function intervalsDetails(intervals, options) {
  const details = el("details", { className: "intervals" }, [
    el("summary", { text: `across its range (${intervals.length} intervals)`, title: RANGE_MEANING }),
  ]);
  details.addEventListener("toggle", () => {
    if (!details.open || details.dataset.built) return;
    details.dataset.built = "yes";
    intervals.slice().reverse().forEach((interval) => details.appendChild(intervalRow(interval, options)));
  });
  return details;
}

/** The section of a `parts=card` page: its intervals come from the `details` route when opened. */
function fetchedIntervals(filter, options) {
  const summary = el("summary", { text: `across its range (${filter.num_intervals} intervals)`, title: RANGE_MEANING });
  return lazyDetails("intervals", summary, async () => {
    const { intervals } = await options.loadDetails();
    return intervals.slice().reverse().map((interval) => intervalRow(interval, options));
  });
}

function intervalRow(interval, options) {
  const head = el("div", { className: "interval-head" }, [
    el("span", { className: "interval-range", text: intervalLabel(interval.low, interval.high) }),
    el("span", {
      className: "interval-share",
      text: ` ${formatPercent(interval.share)} of positions (${formatCount(interval.count)})`,
      title: `${formatCount(interval.count)} positions with an activation in this interval; ` +
        `windows sampled: ${interval.windows.length}`,
    }),
  ]);
  const rows = interval.windows.length
    ? windowList(interval.windows, options, "window").list
    : el("p", { className: "note", text: "no windows sampled" });
  rows.classList.add("interval-windows");
  return el("div", { className: "interval", dataset: { low: formatNumber(interval.low) } }, [head, rows]);
}
