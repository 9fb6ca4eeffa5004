// The view's URL-hash form (frontend/state.js): what a deep link holds.

import assert from "node:assert/strict";
import { test } from "node:test";

import { emptyView, formatHash, hasViewKeys, parseHash, PAGE_SIZE } from "../../frontend/state.js";

const view = (fields) => ({ ...emptyView(), ...fields });

/** What TensorBoard does to hash values when switching tabs: decode, then encode again. */
function reencodedByTensorBoard(hash) {
  return hash.split("&").map((part) => {
    const eq = part.indexOf("=");
    return `${part.slice(0, eq)}=${encodeURIComponent(decodeURIComponent(part.slice(eq + 1)))}`;
  }).join("&");
}

test("a view round-trips through its hash, the page offset following the filter", () => {
  const wanted = view({ runs: ["kernel3", "kernel5"], layer: "conv1d_b", step: 2, filter: 70, offset: 64 });
  assert.equal(formatHash(wanted), "runs=kernel3,kernel5&layer=conv1d_b&step=2&filter=70");
  assert.deepEqual(parseHash(`#${formatHash(wanted)}`), wanted);
});

test("any run or layer name survives, also once TensorBoard re-encoded the hash", () => {
  const names = ["a,b", "x&y=z", "sp ace#1", "日本/run", "%2C", "back\\slash,", "<img src=x onerror=alert(1)>"];
  const wanted = view({ runs: names, layer: names[1], step: 12, filter: 3 });
  const hash = formatHash(wanted);
  assert.deepEqual(parseHash(`#${hash}`), wanted);
  assert.deepEqual(parseHash(`#filters&${reencodedByTensorBoard(hash)}`), wanted);
});

test("commas between runs stay readable; a comma inside a name is escaped", () => {
  assert.equal(formatHash(view({ runs: ["a", "b,c"] })), "runs=a,b%5C,c");
});

test("an empty view is an empty hash, and a hash without our keys is an empty view", () => {
  assert.equal(formatHash(emptyView()), "");
  assert.deepEqual(parseHash("#filters"), emptyView());
  assert.deepEqual(parseHash(""), emptyView());
});

test("malformed values are dropped, not guessed", () => {
  const parsed = parseHash("#runs=ok&layer=%E0%A4%A&step=1.5&filter=-3&step=x");
  assert.deepEqual(parsed, view({ runs: ["ok"] }));
  assert.equal(parseHash("#step=99999999999999999").step, null);
});

test("the offset is the start of the filter's page", () => {
  assert.equal(parseHash(`#filter=${PAGE_SIZE - 1}`).offset, 0);
  assert.equal(parseHash(`#filter=${PAGE_SIZE}`).offset, PAGE_SIZE);
  assert.equal(parseHash(`#filter=${3 * PAGE_SIZE + 5}`).offset, 3 * PAGE_SIZE);
});

test("our keys are told from TensorBoard's own tab hash", () => {
  assert.equal(hasViewKeys("#filters"), false);
  assert.equal(hasViewKeys("#scalars&tagFilter=step"), false);
  assert.equal(hasViewKeys("#filters&step=2"), true);
  assert.equal(hasViewKeys("#runs=a"), true);
});
