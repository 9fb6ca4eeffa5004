// The tab's store and its fetches of which only the newest counts (frontend/store.js).

import assert from "node:assert/strict";
import { test } from "node:test";

import { createStore, latestRequest } from "../../frontend/store.js";

/** A promise with its resolve and reject in hand, to finish fetches in any order. */
function deferred() {
  let resolve;
  let reject;
  const promise = new Promise((yes, no) => { resolve = yes; reject = no; });
  return { promise, resolve, reject };
}

test("set merges a patch and tells each subscriber the state and the one before", () => {
  const store = createStore({ a: 1, b: 2 });
  const heard = [];
  store.subscribe((state, previous) => heard.push([state, previous]));
  store.set({ b: 3 });
  assert.deepEqual(store.state, { a: 1, b: 3 });
  assert.deepEqual(heard, [[{ a: 1, b: 3 }, { a: 1, b: 2 }]]);
});

test("a patch that changes nothing tells no one; a new object with equal content is a change", () => {
  const view = { step: 1 };
  const store = createStore({ view, n: 0 });
  let told = 0;
  store.subscribe(() => { told += 1; });
  store.set({ view, n: 0 });
  store.set({});
  assert.equal(told, 0);
  store.set({ view: { step: 1 } });
  assert.equal(told, 1);
});

test("the state is frozen: it changes only through set", () => {
  const store = createStore({ a: 1 });
  assert.throws(() => { store.state.a = 2; }, TypeError);
  const before = store.state;
  store.set({ a: 2 });
  assert.equal(before.a, 1);
});

test("unsubscribing stops the calls", () => {
  const store = createStore({ n: 0 });
  let told = 0;
  const unsubscribe = store.subscribe(() => { told += 1; });
  store.set({ n: 1 });
  unsubscribe();
  store.set({ n: 2 });
  assert.equal(told, 1);
});

test("a set made by a subscriber reaches every subscriber after the change that caused it", () => {
  const store = createStore({ view: "a", shown: null });
  const heard = [];
  store.subscribe((state, previous) => {
    heard.push(["first", previous.view, state.view, state.shown]);
    if (state.view !== previous.view) store.set({ shown: state.view });
  });
  store.subscribe((state, previous) => heard.push(["second", previous.view, state.view, state.shown]));
  store.set({ view: "b" });
  assert.deepEqual(heard, [
    ["first", "a", "b", null],
    ["second", "a", "b", null],
    ["first", "b", "b", "b"],
    ["second", "b", "b", "b"],
  ]);
  assert.deepEqual(store.state, { view: "b", shown: "b" });
});

test("a newer run aborts the one before, whose late result is never committed", async () => {
  const request = latestRequest();
  const slow = deferred();
  const fast = deferred();
  const signals = [];
  const committed = [];
  const first = request.run((signal) => { signals.push(signal); return slow.promise; }, (r) => committed.push(r));
  const second = request.run((signal) => { signals.push(signal); return fast.promise; }, (r) => committed.push(r));
  assert.equal(signals[0].aborted, true);
  assert.equal(signals[1].aborted, false);
  fast.resolve("newer");
  slow.resolve("older"); // as a cached fetch would, ignoring its signal
  assert.deepEqual(await Promise.all([first, second]), [false, true]);
  assert.deepEqual(committed, ["newer"]);
});

test("cancel aborts the run in flight and drops its result", async () => {
  const request = latestRequest();
  const pending = deferred();
  let signal;
  const committed = [];
  const run = request.run((s) => { signal = s; return pending.promise; }, (r) => committed.push(r));
  assert.equal(request.pending, true);
  request.cancel();
  assert.equal(signal.aborted, true);
  assert.equal(request.pending, false);
  pending.resolve("late");
  assert.equal(await run, false);
  assert.deepEqual(committed, []);
});

test("pending lasts from the start of a run to its end", async () => {
  const request = latestRequest();
  assert.equal(request.pending, false);
  const pending = deferred();
  const run = request.run(() => pending.promise, () => {});
  assert.equal(request.pending, true);
  pending.resolve(1);
  await run;
  assert.equal(request.pending, false);
});

test("the error of the current run is thrown; a superseded run's error is dropped", async () => {
  const request = latestRequest();
  const older = deferred();
  const first = request.run(() => older.promise, () => assert.fail("superseded run committed"));
  const second = request.run(() => Promise.reject(new Error("route failed")), () => {});
  older.reject(new Error("aborted by the newer run"));
  assert.equal(await first, false);
  await assert.rejects(second, /route failed/);
});

test("the fetch gets a signal that a real fetch() would abort on", async () => {
  const request = latestRequest();
  let seen;
  await request.run((signal) => { seen = signal; return 1; }, () => {});
  assert.ok(seen instanceof AbortSignal);
});
