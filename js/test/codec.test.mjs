import assert from "node:assert/strict";
import { test } from "node:test";
import { decodeArray, encodeArray, sizeOf, toBytes } from "../src/codec.js";

test("decodes a float32 payload from a DataView window with a byte offset", () => {
  // The array lives at byte 8 of a larger buffer, as in a Jupyter message with several buffers.
  const buffer = new ArrayBuffer(8 + 6 * 4 + 12);
  const values = new Float32Array(buffer, 8, 6);
  values.set([0.5, 0.25, 0, 1, 2, 3]);
  new Uint8Array(buffer, 0, 8).fill(255);
  new Uint8Array(buffer, 32, 12).fill(255);
  const out = decodeArray({ view: new DataView(buffer, 8, 24), dtype: "float32", shape: [2, 3] });
  assert.deepEqual(Array.from(out.data), [0.5, 0.25, 0, 1, 2, 3]);
  assert.deepEqual(out.shape, [2, 3]);
  assert.equal(out.data.byteOffset, 8);
});

test("copies when the window is not aligned for the dtype", () => {
  const buffer = new ArrayBuffer(3 + 8);
  const src = new Float32Array([7.5, -1]);
  new Uint8Array(buffer, 3, 8).set(new Uint8Array(src.buffer));
  const out = decodeArray({ view: new DataView(buffer, 3, 8), dtype: "float32", shape: [2] });
  assert.deepEqual(Array.from(out.data), [7.5, -1]);
});

test("accepts ArrayBuffer and typed arrays, uint8 and bool", () => {
  const u8 = new Uint8Array([1, 0, 1, 1]);
  assert.deepEqual(Array.from(decodeArray({ view: u8.buffer, dtype: "bool", shape: [4] }).data), [1, 0, 1, 1]);
  const sub = new Uint8Array([9, 9, 1, 0, 9]).subarray(2, 4);
  assert.deepEqual(Array.from(decodeArray({ view: sub, dtype: "uint8", shape: [2] }).data), [1, 0]);
});

test("refuses a byte count that does not match dtype and shape", () => {
  const view = new DataView(new ArrayBuffer(12));
  assert.throws(() => decodeArray({ view, dtype: "float32", shape: [2, 2] }), RangeError);
  assert.throws(() => decodeArray({ view, dtype: "complex64", shape: [1] }), TypeError);
  assert.throws(() => toBytes([1, 2, 3]), TypeError);
});

test("missing payloads decode to null; empty arrays decode", () => {
  assert.equal(decodeArray(null), null);
  assert.equal(decodeArray({ view: null, dtype: "float32", shape: [0] }), null);
  assert.equal(decodeArray({ view: new ArrayBuffer(0), dtype: "float32", shape: [0, 0] }).data.length, 0);
});

test("encode and decode round-trip", () => {
  const data = new Int32Array([1, -2, 3, -4, 5, -6]);
  const back = decodeArray(encodeArray(data.subarray(2), [2, 2]));
  assert.deepEqual(Array.from(back.data), [3, -4, 5, -6]);
  assert.equal(back.dtype, "int32");
  assert.equal(sizeOf([3, 4, 5]), 60);
});
