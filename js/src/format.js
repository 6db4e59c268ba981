// Number formatting shared by the components.

/** Human-readable bytes: 1536 -> "1.5 KiB". */
export function formatBytes(n) {
  if (n == null || !Number.isFinite(Number(n))) return "n/a";
  let v = Number(n);
  const units = ["B", "KiB", "MiB", "GiB", "TiB"];
  let u = 0;
  while (Math.abs(v) >= 1024 && u < units.length - 1) {
    v /= 1024;
    u += 1;
  }
  return u === 0 ? `${v} B` : `${v.toFixed(v >= 100 ? 0 : 1)} ${units[u]}`;
}

/** A share in [0, 1] as a percentage, or "n/a". */
export function formatShare(x, digits = 1) {
  if (x == null || !Number.isFinite(Number(x))) return "n/a";
  return `${(100 * Number(x)).toFixed(digits)} %`;
}

/** A token for display: quoted, shortened. */
export function formatToken(tok, max = 16) {
  if (tok == null) return "?";
  const s = String(tok);
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}
