// Binary array codec for anywidget traits.
//
// Python sends arrays as {view, dtype, shape}: `view` arrives as a DataView (synced state),
// an ArrayBuffer or a typed array (custom messages). A DataView is usually a window on a
// larger buffer, so its byteOffset and byteLength must be honoured.

const TYPED = {
  float32: Float32Array,
  float64: Float64Array,
  int8: Int8Array,
  uint8: Uint8Array,
  bool: Uint8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
};

/** The exact bytes a view covers, as a Uint8Array over the same memory (no copy). */
export function toBytes(view) {
  if (view instanceof ArrayBuffer) return new Uint8Array(view);
  if (ArrayBuffer.isView(view)) return new Uint8Array(view.buffer, view.byteOffset, view.byteLength);
  throw new TypeError(`expected an ArrayBuffer, DataView or typed array, got ${Object.prototype.toString.call(view)}`);
}

/** Number of elements of an array of this shape. */
export function sizeOf(shape) {
  return shape.reduce((a, b) => a * b, 1);
}

/**
 * Decode a `{view, dtype, shape}` payload into `{data, dtype, shape}` where `data` is a typed array.
 * Returns null for a missing payload. Throws when the byte count does not match dtype and shape.
 */
export function decodeArray(payload) {
  if (payload == null || payload.view == null) return null;
  const { dtype, shape } = payload;
  const Ctor = TYPED[dtype];
  if (!Ctor) throw new TypeError(`unsupported dtype ${dtype}`);
  if (!Array.isArray(shape)) throw new TypeError("shape must be an array");
  const bytes = toBytes(payload.view);
  const n = sizeOf(shape);
  if (bytes.byteLength !== n * Ctor.BYTES_PER_ELEMENT) {
    throw new RangeError(
      `payload of ${bytes.byteLength} bytes does not hold ${dtype}[${shape.join(", ")}]`,
    );
  }
  // A typed array needs an aligned offset; copy the bytes when the window is not aligned.
  const data =
    bytes.byteOffset % Ctor.BYTES_PER_ELEMENT === 0
      ? new Ctor(bytes.buffer, bytes.byteOffset, n)
      : new Ctor(bytes.slice().buffer, 0, n);
  return { data, dtype, shape: shape.slice() };
}

/** Encode a typed array as a `{view, dtype, shape}` payload (used by the demo page and tests). */
export function encodeArray(data, shape, dtype) {
  const name = dtype ?? Object.keys(TYPED).find((k) => data instanceof TYPED[k]);
  if (!name) throw new TypeError("unsupported typed array");
  if (sizeOf(shape) !== data.length) throw new RangeError("shape does not match data length");
  return { view: new DataView(data.buffer, data.byteOffset, data.byteLength), dtype: name, shape: shape.slice() };
}
