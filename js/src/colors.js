// Colour scales: a perceptual sequential map (viridis) and linear / log normalisation.

const VIRIDIS_STOPS = [
  [68, 1, 84],
  [72, 40, 120],
  [62, 74, 137],
  [49, 104, 142],
  [38, 130, 142],
  [31, 158, 137],
  [53, 183, 121],
  [110, 206, 88],
  [181, 222, 43],
  [253, 231, 37],
];

/** A 256-entry RGB lookup table interpolated from colour stops, as a Uint8Array [256 * 3]. */
export function makeLut(stops = VIRIDIS_STOPS) {
  const lut = new Uint8Array(256 * 3);
  const last = stops.length - 1;
  for (let i = 0; i < 256; i++) {
    const x = (i / 255) * last;
    const j = Math.min(last - 1, Math.floor(x));
    const f = x - j;
    for (let c = 0; c < 3; c++) lut[i * 3 + c] = Math.round(stops[j][c] * (1 - f) + stops[j + 1][c] * f);
  }
  return lut;
}

export const VIRIDIS = makeLut();

/**
 * A normalisation v -> t in [0, 1].
 * Linear maps [0, vmax]; log maps [vmin, vmax] on a log10 axis, vmin = max(floor, vmax * 1e-4).
 * NaN and non-positive values (log) map to 0.
 */
export function makeScale({ vmax, log = false, floor = 0 }) {
  const top = vmax > 0 && Number.isFinite(vmax) ? vmax : 1;
  if (!log) {
    return (v) => (v > 0 ? Math.min(1, v / top) : 0);
  }
  const bottom = Math.max(floor > 0 ? floor : 0, top * 1e-4);
  const lo = Math.log10(bottom);
  const span = Math.log10(top) - lo || 1;
  return (v) => (v > bottom ? Math.min(1, (Math.log10(v) - lo) / span) : 0);
}

/** RGB of t in [0, 1] from a lookup table. */
export function colorAt(t, lut = VIRIDIS) {
  const i = Math.max(0, Math.min(255, Math.round((Number.isFinite(t) ? t : 0) * 255))) * 3;
  return [lut[i], lut[i + 1], lut[i + 2]];
}

/** CSS rgb() string of t in [0, 1]. */
export function cssColor(t, lut = VIRIDIS) {
  const [r, g, b] = colorAt(t, lut);
  return `rgb(${r}, ${g}, ${b})`;
}

/** Largest finite value of an array (0 when none). */
export function finiteMax(data) {
  let m = 0;
  for (let i = 0; i < data.length; i++) {
    const v = data[i];
    if (v > m && Number.isFinite(v)) m = v;
  }
  return m;
}

/** Blend an RGB colour towards grey by `amount` in [0, 1] (evicted cells). */
export function greyOut([r, g, b], amount, grey = 150) {
  const a = Math.max(0, Math.min(1, amount));
  return [r + (grey - r) * a, g + (grey - g) * a, b + (grey - b) * a].map(Math.round);
}
