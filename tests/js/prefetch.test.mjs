// A deep link's page and overview are fetched alongside `runs` (api.prefetch): the grid takes such
// an answer only when `runs` gives its step the same wall time, and fetches again otherwise.

import assert from "node:assert/strict";
import { test } from "node:test";

import { fetchFilterPage, fetchOverview, prefetch } from "../../frontend/api.js";

const asked = [];
let wallTime = 100.5;
globalThis.fetch = async (url) => {
  asked.push(url);
  const params = new URL(url, "http://tab/").searchParams;
  const body = { run: params.get("run"), step: Number(params.get("step")), wall_time: wallTime, asked: asked.length };
  return { ok: true, json: async () => body };
};

const page = (run, step) => ({ run, layer: "conv", step, offset: 0, limit: 64, windowsLimit: 10, parts: "card" });

test("a prefetched page and overview are taken when runs confirms their step's wall time", async () => {
  asked.length = 0;
  prefetch(page("a", 3));
  assert.equal(asked.length, 2);
  const answer = await fetchFilterPage({ ...page("a", 3), wallTime: 100.5 });
  const overview = await fetchOverview({ run: "a", layer: "conv", step: 3, wallTime: 100.5 });
  assert.deepEqual([answer.asked, overview.asked, asked.length], [1, 2, 2]);
});

test("a prefetched answer of another wall time (the step written again) is fetched again", async () => {
  asked.length = 0;
  prefetch(page("b", 3));
  wallTime = 200.5; // what the server says now, and what `runs` says
  const answer = await fetchFilterPage({ ...page("b", 3), wallTime: 200.5 });
  assert.equal(asked.length, 3);
  assert.equal(answer.asked, 3);
  assert.equal(answer.wall_time, 200.5);
});

test("without the page (a sorted view) only the overview is prefetched; an unknown wall time never takes a guess", async () => {
  asked.length = 0;
  wallTime = 7.5;
  prefetch(page("c", 1), { withPage: false });
  assert.deepEqual(asked.map((url) => url.split("?")[0]), ["./overview"]);
  const overview = await fetchOverview({ run: "c", layer: "conv", step: 1, wallTime: null });
  assert.equal(overview.asked, 2);
});
