// Building a page's rows a screen first, the rest in timed tasks (frontend/chunks.js), driven by
// hand: the scheduler queues the steps and the clock is a number the builder advances.

import assert from "node:assert/strict";
import { test } from "node:test";

import { chunkedBuild } from "../../frontend/chunks.js";

/** A build of `count` items whose each item costs `cost` ms on a fake clock. */
function harness(count, { cost = 1, chunkMs = 3 } = {}) {
  const built = [];
  const queue = [];
  const done = [];
  let clock = 0;
  const rows = chunkedBuild(count, (position) => {
    built.push(position);
    clock += cost;
  }, { schedule: (step) => queue.push(step), now: () => clock, chunkMs, onDone: (complete) => done.push(complete) });
  const runTask = () => queue.shift()();
  return { rows, built, queue, done, runTask };
}

test("what is needed now is built at once; the rest in tasks of chunkMs each, in order", () => {
  const { rows, built, queue, done, runTask } = harness(10);
  rows.buildWhile((n) => n < 4);
  assert.deepEqual(built, [0, 1, 2, 3]);
  assert.equal(queue.length, 0); // nothing scheduled before start()
  rows.start();
  assert.deepEqual(built, [0, 1, 2, 3]);
  runTask();
  assert.deepEqual(built, [0, 1, 2, 3, 4, 5, 6]); // 3 ms at 1 ms an item
  assert.deepEqual(done, []);
  runTask();
  assert.deepEqual(built, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(done, [true]);
  assert.equal(queue.length, 0);
  assert.equal(rows.built(), 10);
});

test("a task builds at least one item however slow, and never past the count", () => {
  const { rows, built, done, runTask, queue } = harness(3, { cost: 50 });
  rows.start();
  runTask();
  assert.deepEqual(built, [0]);
  runTask();
  runTask();
  assert.deepEqual(built, [0, 1, 2]);
  assert.deepEqual(done, [true]);
  assert.equal(queue.length, 0);
});

test("upTo builds through an item now (a linked row far down), clamped to the count", () => {
  const { rows, built, done, runTask } = harness(8);
  rows.upTo(6);
  assert.deepEqual(built, [0, 1, 2, 3, 4, 5]);
  rows.upTo(2); // already built: nothing again
  rows.start();
  runTask();
  assert.deepEqual(built, [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(done, [true]);
  rows.upTo(100);
  assert.equal(built.length, 8);
});

test("items built now between tasks are not built again, and the next task ends the build", () => {
  const { rows, built, done, runTask, queue } = harness(6, { cost: 1, chunkMs: 2 });
  rows.start();
  runTask();
  assert.deepEqual(built, [0, 1]);
  rows.upTo(6);
  assert.deepEqual(done, []); // the scheduled task says it, once
  runTask();
  assert.deepEqual(built, [0, 1, 2, 3, 4, 5]);
  assert.deepEqual(done, [true]);
  assert.equal(queue.length, 0);
});

test("a build wholly done now is done at start(), with no task", () => {
  const { rows, done, queue } = harness(3);
  rows.upTo(3);
  assert.deepEqual(done, []);
  rows.start();
  assert.deepEqual(done, [true]);
  assert.equal(queue.length, 0);
  rows.start();
  assert.deepEqual(done, [true]);
  const empty = harness(0);
  empty.rows.buildWhile(() => true);
  empty.rows.start();
  assert.deepEqual(empty.built, []);
  assert.deepEqual(empty.done, [true]);
});

test("cancelled (the grid replaced), it builds nothing more and says it was not completed", () => {
  const { rows, built, done, runTask, queue } = harness(10);
  rows.upTo(2);
  rows.start();
  rows.cancel();
  assert.deepEqual(done, [false]);
  runTask(); // the task already scheduled finds the build cancelled
  rows.upTo(10);
  rows.buildWhile(() => true);
  rows.start();
  rows.cancel();
  assert.deepEqual(built, [0, 1]);
  assert.deepEqual(done, [false]);
  assert.equal(queue.length, 0);
});

test("a bad count is refused, naming it", () => {
  const options = { schedule: () => {}, now: () => 0 };
  assert.throws(() => chunkedBuild(-1, () => {}, options), /count -1, expected an integer >= 0/);
  assert.throws(() => chunkedBuild(1.5, () => {}, options), /count 1.5/);
});
