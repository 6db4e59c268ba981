import assert from "node:assert/strict";
import { test } from "node:test";
import { formatBytes, formatShare, formatToken } from "../src/format.js";
import { cellRange, clampRange, isFullWindow, maxPool1d, zoomAround } from "../src/geometry.js";

test("max-pooling keeps a single spike visible", () => {
  const data = new Float32Array(1000);
  data[0] = 0.9; // a sink
  data[537] = 0.3;
  const out = maxPool1d(data, 0, 1000, 10);
  assert.equal(out.length, 10);
  assert.equal(out[0], Float32Array.from([0.9])[0]);
  assert.equal(out[5], Float32Array.from([0.3])[0]);
  assert.equal(out[9], 0);
});

test("max-pooling a range smaller than the bins repeats values", () => {
  const out = maxPool1d([1, 2, 3], 0, 3, 6);
  assert.deepEqual(Array.from(out), [1, 1, 2, 2, 3, 3]);
  assert.equal(maxPool1d([1], 0, 0, 4).length, 4);
});

test("zoom keeps the pointed token in place and stays inside the sequence", () => {
  const win = { q0: 0, q1: 100, k0: 0, k1: 100 };
  const z = zoomAround(win, 50, 50, 0.5, 100);
  assert.deepEqual(z, { q0: 25, q1: 75, k0: 25, k1: 75 });
  const edge = zoomAround(win, 0, 99, 0.5, 100);
  assert.equal(edge.q0, 0);
  assert.equal(edge.k1, 100);
  const out = zoomAround(z, 50, 50, 10, 100);
  assert.ok(isFullWindow(out, 100));
  const tiny = zoomAround({ q0: 10, q1: 14, k0: 10, k1: 14 }, 12, 12, 0.1, 100, 4);
  assert.equal(tiny.q1 - tiny.q0, 4);
});

test("clampRange and cellRange", () => {
  assert.deepEqual(clampRange(-5, 10, 100), [0, 15]);
  assert.deepEqual(clampRange(95, 110, 100), [85, 100]);
  assert.deepEqual(cellRange(3, 4, 0, 14), [12, 14]);
  assert.deepEqual(cellRange(0, 1, 7, 100), [7, 8]);
});

test("formatting", () => {
  assert.equal(formatBytes(512), "512 B");
  assert.equal(formatBytes(1536), "1.5 KiB");
  assert.equal(formatBytes(3 * 1024 ** 3), "3.0 GiB");
  assert.equal(formatBytes(undefined), "n/a");
  assert.equal(formatShare(0.5), "50.0 %");
  assert.equal(formatShare(null), "n/a");
  assert.equal(formatToken("abcdefghijklmnopqrstuvwxyz", 5), "abcd…");
});
