// Pure geometry of the heatmap: zoom windows, pooling for display, token ranges.

/** Clamp a [start, end) range of length >= minSize inside [0, total). */
export function clampRange(start, end, total, minSize = 1) {
  let size = Math.max(Math.min(end - start, total), Math.min(minSize, total));
  let s = Math.round(start);
  size = Math.round(size);
  if (s < 0) s = 0;
  if (s + size > total) s = total - size;
  return [s, s + size];
}

/**
 * Zoom a window {q0, q1, k0, k1} around a token point by `factor` (< 1 zooms in), clamped to T.
 * The point keeps its relative position inside the window.
 */
export function zoomAround(win, q, k, factor, total, minSize = 4) {
  const scale = (a0, a1, at) => {
    const size = Math.max(minSize, (a1 - a0) * factor);
    const rel = (at - a0) / Math.max(1e-9, a1 - a0);
    const start = at - rel * size;
    return clampRange(start, start + size, total, minSize);
  };
  const [q0, q1] = scale(win.q0, win.q1, q);
  const [k0, k1] = scale(win.k0, win.k1, k);
  return { q0, q1, k0, k1 };
}

/** True when the window covers the whole T x T matrix. */
export function isFullWindow(win, total) {
  return win.q0 <= 0 && win.k0 <= 0 && win.q1 >= total && win.k1 >= total;
}

/** Max-pool a 1-D array's [start, end) range into `bins` bins (NaN ignored). */
export function maxPool1d(data, start, end, bins) {
  const out = new Float32Array(Math.max(0, bins));
  const span = end - start;
  if (span <= 0 || bins <= 0) return out;
  for (let b = 0; b < bins; b++) {
    const a = start + Math.floor((b * span) / bins);
    const z = Math.max(a + 1, start + Math.floor(((b + 1) * span) / bins));
    let m = 0;
    for (let i = a; i < z && i < end; i++) {
      const v = data[i];
      if (v > m) m = v;
    }
    out[b] = m;
  }
  return out;
}

/** Token range [start, end) covered by cell `index` of an axis pooled by `factor` from `origin`. */
export function cellRange(index, factor, origin, total) {
  const start = origin + index * factor;
  return [start, Math.min(total, start + factor)];
}

/** Position of a token in a tile's axis (fractional cell coordinate). */
export function tokenToCell(token, factor, origin) {
  return (token - origin) / factor;
}
