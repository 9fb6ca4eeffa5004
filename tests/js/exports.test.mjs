// The tab's downloads (frontend/exports.js) and the sampling note (frontend/format.js).

import assert from "node:assert/strict";
import { test } from "node:test";

import { CSV_COLUMNS, exportFileName, notebookJson, windowsCsv } from "../../frontend/exports.js";
import { samplingNote } from "../../frontend/format.js";

const FILTERS = [
  { index: 0, windows: [
    { activation: 2.5, example: 7, position: 3, tokens: ["not", "good", "<pad>"], count: 4,
      originals: ["Not", "GOOD!", ""] },
    { activation: 1.25, example: 1, position: 0, tokens: ['say "hi"', "a,b", " x"], count: 1, originals: null },
  ] },
  { index: 3, windows: [] },
];

test("the notebook JSON has one list per filter with the notebook's four keys", () => {
  assert.deepEqual(notebookJson(FILTERS), {
    Filter_0: [
      { activation: 2.5, tweet: 7, position: 3, words: "not good <pad>" },
      { activation: 1.25, tweet: 1, position: 0, words: 'say "hi" a,b  x' },
    ],
    Filter_3: [],
  });
});

test("the CSV has a header and one quoted-where-needed row per window", () => {
  const lines = windowsCsv("run,1", "conv_1", 4, FILTERS).split("\r\n");
  assert.equal(lines[0], CSV_COLUMNS.join(","));
  assert.equal(lines[1], '"run,1",conv_1,4,0,0,2.5,4,7,3,not good <pad>,Not GOOD!,');
  assert.equal(lines[2], '"run,1",conv_1,4,0,1,1.25,1,1,0,"say ""hi"" a,b  x",,');
  assert.deepEqual(lines.slice(3), [""]);
});

test("file names hold run, layer and step, without path characters", () => {
  assert.equal(exportFileName("kernel3", "conv_1", 4, "csv"), "kernel3_conv_1_step4.csv");
  assert.equal(exportFileName("a/../b c", "日本", 0, "json"), "a_.._b_c_日本_step0.json");
});

test("the sampling note speaks only for a sampled layer", () => {
  assert.equal(samplingNote([{ sampled: false, steps: [0, 1], max_step: 1 }, null]), "");
  assert.equal(samplingNote([null, { sampled: true, steps: [0, 9, 19, 29, 39, 45, 47, 48, 49, 3], max_step: 49 }]),
    "10 sampled steps up to step 49; start TensorBoard with --samples_per_plugin filters=0 to keep all");
});

const WITH_INTERVALS = [{ ...FILTERS[0], intervals: [
  { low: 0, high: 0.015625, count: 40, share: 0.4, windows: [
    { activation: 0.01, example: 2, position: 1, tokens: ["a", "b", "c"], count: 1, originals: null }] },
  { low: 64, high: Infinity, count: 1, share: 0.01, windows: [] },
] }, { index: 3, windows: [], intervals: [] }];

test("interval samples go beside the notebook's keys, which keep their values", () => {
  const json = notebookJson(WITH_INTERVALS);
  const { intervals, ...notebook } = json;
  assert.deepEqual(notebook, notebookJson(FILTERS));
  assert.deepEqual(intervals, {
    Filter_0: [
      { low: 0, high: 0.015625, count: 40, share: 0.4,
        windows: [{ activation: 0.01, tweet: 2, position: 1, words: "a b c" }] },
      { low: 64, high: Infinity, count: 1, share: 0.01, windows: [] },
    ],
    Filter_3: [],
  });
  assert.equal("intervals" in notebookJson(FILTERS), false);
});

test("the CSV lists each interval's sampled windows after the top windows, labelled by interval", () => {
  const lines = windowsCsv("r", "conv_1", 0, WITH_INTERVALS).split("\r\n");
  assert.equal(lines[3], "r,conv_1,0,0,0,0.01,1,2,1,a b c,,\"(0, 0.0156)\"");
  assert.deepEqual(lines.slice(4), [""]);
});
