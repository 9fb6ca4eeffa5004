// How numbers, counts and facts are written, and how a searched token matches (frontend/format.js).

import assert from "node:assert/strict";
import { test } from "node:test";

import {
  absentFeatureLine, effectLine, effectsAbsentLine, formatCount, formatNumber, formatPercent, layerDescription,
  layerPath, pageLabel, signedNumber, skippedLine, stepLabel, tokenMatcher,
} from "../../frontend/format.js";

test("numbers get 3 significant digits, exponents when tiny or huge", () => {
  assert.equal(formatNumber(3), "3");
  assert.equal(formatNumber(1.23456), "1.23");
  assert.equal(formatNumber(-0.5), "-0.5");
  assert.equal(formatNumber(0), "0");
  assert.equal(formatNumber(12345), "12300");
  assert.equal(formatNumber(123456), "1.23e+5");
  assert.equal(formatNumber(0.000123), "1.23e-4");
});

test("missing and non-finite numbers are marks, not NaN", () => {
  assert.equal(formatNumber(NaN), "–");
  assert.equal(formatNumber(null), "–");
  assert.equal(formatNumber(undefined), "–");
  assert.equal(formatNumber(Infinity), "+∞");
  assert.equal(formatNumber(-Infinity), "−∞");
});

test("percentages keep a decimal below 10%", () => {
  assert.equal(formatPercent(0.5), "50%");
  assert.equal(formatPercent(0.05), "5.0%");
  assert.equal(formatPercent(1), "100%");
  assert.equal(formatPercent(NaN), "–");
});

test("counts are grouped by thousands", () => {
  assert.equal(formatCount(7), "7");
  assert.equal(formatCount(2000), "2,000");
  assert.equal(formatCount(1234567), "1,234,567");
  assert.equal(formatCount(999.9), "999");
});

test("a layer is described by its geometry and what its top windows are", () => {
  const facts = { geometry: { kernel_size: 3, span_width: 3 }, top_k: 10, distinct: true, num_examples: 2000 };
  assert.equal(layerDescription(facts), "kernel 3 · 3-token windows · top 10 distinct of 2,000 examples");
  const dilated = { ...facts, distinct: false, geometry: { kernel_size: 2, dilation: 2, stride: 2, span_width: 5 } };
  assert.equal(layerDescription(dilated), "kernel 2 dilation 2 stride 2 · 5-token windows · top 10 of 2,000 examples");
});

test("a layer's path ends at the layer itself", () => {
  assert.equal(layerPath(["tokens", "embedding", "conv1d"], "conv1d"), "tokens → embedding → conv1d");
  assert.equal(layerPath(["tokens", "embedding"], "conv1d"), "tokens → embedding → conv1d");
  assert.equal(layerPath([], "conv1d"), "");
});

test("a page is labelled by its first and last filter, the last page cut at the total", () => {
  assert.equal(pageLabel({ offset: 64, limit: 64, total: 1024 }), "filters 64–127 of 1024");
  assert.equal(pageLabel({ offset: 960, limit: 64, total: 1000 }), "filters 960–999 of 1000");
  assert.equal(pageLabel({ offset: 0, limit: 64, total: 0 }), "no filters");
});

test("the step label says which step and where it sits among them", () => {
  assert.equal(stepLabel([0, 1, 5], 2), "step 5  (3 of 3)");
  assert.equal(stepLabel([], 0), "no steps");
});

test("a skipped report names its run, layer and step when it has one", () => {
  assert.equal(skippedLine({ run: "broken", layer: "conv1d", step: 0, reason: "bad proto" }),
    "broken / conv1d / step 0: bad proto");
  assert.equal(skippedLine({ run: "r", layer: "l", step: null, reason: "why" }), "r / l: why");
});

test("an exact search matches the token itself; a partial one any token holding it, ignoring case", () => {
  const exact = tokenMatcher("<user>", false);
  assert.equal(exact("<user>"), true);
  assert.equal(exact("<USER>"), false);
  assert.equal(exact("<user>s"), false);
  const partial = tokenMatcher("USER", true);
  assert.equal(partial("<user>"), true);
  assert.equal(partial("users"), true);
  assert.equal(partial("use"), false);
  assert.equal(tokenMatcher("", true), null);
});

test("a signed number says its sign, with a true minus", () => {
  assert.equal(signedNumber(0.0421), "+0.0421");
  assert.equal(signedNumber(-0.018), "−0.018");
  assert.equal(signedNumber(0), "0");
  assert.equal(signedNumber(-0.0000703), "−7.03e-5");
  assert.equal(signedNumber(NaN), "–");
});

test("a feature not computed says how to turn it on", () => {
  assert.equal(absentFeatureLine("inhibiting", "turned off"),
    "inhibiting windows: not computed (pass --inhibiting / inhibiting=True)");
  assert.equal(absentFeatureLine("contexts", "turned off"), "contexts: not computed (pass --contexts / contexts=True)");
  assert.equal(absentFeatureLine("slot_preferences", "turned off"),
    "slot preferences: not computed (pass --slot-top-n N / slot_top_n=N)");
  assert.equal(absentFeatureLine("patterns", "turned off"), "patterns: not computed");
});

test("'not defined' and 'not in this report' keep their own meaning", () => {
  assert.match(absentFeatureLine("patterns", "not defined"), /^patterns: not defined for this layer \(it is not fed by the embedding/);
  assert.equal(absentFeatureLine("slot_preferences", "not in this report"),
    "slot preferences: not in this report (written by an older tb_filters; interpret again to add it)");
  assert.equal(absentFeatureLine("inhibiting", undefined), "inhibiting windows: not available");
  assert.equal(absentFeatureLine("new_feature", "turned off"), "new feature: not computed");
});

test("missing effects say why: not requested, skipped (the report's note) or an old report", () => {
  assert.equal(effectsAbsentLine("effects not requested"), "effects: not computed (drop --no-effects / effects=True)");
  const skipped = "effects skipped: the model's other input(s) ['meta'] were not given (pass inputs=...)";
  assert.equal(effectsAbsentLine(skipped), skipped);
  assert.equal(effectsAbsentLine(""), "effects: not in this report (written by an older tb_filters; interpret again to add it)");
});

const OVERVIEW = {
  outputs: ["negative", "positive"],
  sample_examples: 1000,
  effects_note: "",
  index: [0, 1, 2],
  effect_mean: [[0.01, -0.02, 0.0], [-0.01, 0.0421, 0.0]],
  effect_mean_abs: [[0.011, 0.03, 0.0], [0.012, 0.0512, 0.0]],
};

test("a card's effect line reads the chosen output of its filter", () => {
  const line = effectLine(OVERVIEW, 1, 1);
  assert.equal(line.text, "effect on positive: +0.0421 (mean |change| 0.0512)");
  assert.equal(line.absent, false);
  assert.match(line.title, /over the first 1,000 examples/);
  assert.equal(effectLine(OVERVIEW, 1, 0).text, "effect on negative: −0.02 (mean |change| 0.03)");
  assert.equal(effectLine(OVERVIEW, 1, 7).text, effectLine(OVERVIEW, 1, 1).text); // clamped, as the overview picks
  assert.equal(effectLine(OVERVIEW, 5, 0), null);
  const sorted = { ...OVERVIEW, index: [2, 0, 1] }; // the filter found by its index, not its position
  assert.equal(effectLine(sorted, 2, 0).text, "effect on negative: +0.01 (mean |change| 0.011)");
});

test("without effects the card's line says why", () => {
  const none = { ...OVERVIEW, outputs: [], effect_mean: [], effect_mean_abs: [], effects_note: "effects not requested" };
  assert.deepEqual(effectLine(none, 0, 0),
    { text: "effects: not computed (drop --no-effects / effects=True)", title: "", absent: true });
});
