import assert from "node:assert/strict";
import { test } from "node:test";
import { VIRIDIS, colorAt, cssColor, finiteMax, greyOut, makeLut, makeScale } from "../src/colors.js";

test("lookup table runs from the first to the last stop", () => {
  assert.equal(VIRIDIS.length, 768);
  assert.deepEqual(colorAt(0), [68, 1, 84]);
  assert.deepEqual(colorAt(1), [253, 231, 37]);
  const lut = makeLut([
    [0, 0, 0],
    [255, 255, 255],
  ]);
  assert.deepEqual(colorAt(0.5, lut), [128, 128, 128]);
  assert.equal(cssColor(0), "rgb(68, 1, 84)");
});

test("linear scale maps [0, vmax] to [0, 1] and clips", () => {
  const s = makeScale({ vmax: 2 });
  assert.equal(s(0), 0);
  assert.equal(s(1), 0.5);
  assert.equal(s(5), 1);
  assert.equal(s(-1), 0);
  assert.equal(s(NaN), 0);
});

test("log scale spreads small weights that linear squashes", () => {
  const lin = makeScale({ vmax: 1 });
  const log = makeScale({ vmax: 1, log: true });
  assert.ok(log(0.01) > 0.4 && lin(0.01) < 0.02);
  assert.equal(log(1), 1);
  assert.equal(log(0), 0);
  assert.ok(Math.abs(log(1e-2) - 0.5) < 1e-9); // four decades, 1e-2 halfway
});

test("degenerate vmax does not divide by zero", () => {
  assert.equal(makeScale({ vmax: 0 })(0.5), 0.5);
  assert.equal(makeScale({ vmax: NaN, log: true })(1), 1);
});

test("finiteMax ignores NaN and infinities; greyOut blends", () => {
  assert.equal(finiteMax(new Float32Array([0.1, NaN, Infinity, 0.7])), Float32Array.from([0.7])[0]);
  assert.deepEqual(greyOut([0, 100, 200], 0, 150), [0, 100, 200]);
  assert.deepEqual(greyOut([0, 100, 200], 1, 150), [150, 150, 150]);
});
