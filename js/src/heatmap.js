// AttentionHeatmap: canvas heatmap of one head (full mode) or the head's attention-received
// profile per key (stats mode). Sinks and heavy hitters marked, evicted cells greyed, hover
// readout, linear/log scale, zoom by drag or wheel with full-resolution detail fetched from Python.

import { decodeArray, toBytes } from "./codec.js";
import { VIRIDIS, colorAt, finiteMax, greyOut, makeScale } from "./colors.js";
import { commit, cssVar, errorBanner, h, onThemeChange, setupCanvas } from "./dom.js";
import { formatToken } from "./format.js";
import { cellRange, isFullWindow, maxPool1d, zoomAround } from "./geometry.js";
import { throttle } from "./throttle.js";

const SIZE = { full: { w: 600, h: 560, left: 92, top: 72, right: 10, bottom: 10 },
  stats: { w: 600, h: 300, left: 56, top: 24, right: 10, bottom: 78 } };
const SINK_COLOR = "#e53935";
const HEAVY_COLOR = "#fb8c00";

function tileFromPayload(matrix, overlay, q0, k0, factor) {
  const m = decodeArray(matrix);
  if (!m || m.shape.length !== 2 || m.shape[0] === 0) return null;
  const o = decodeArray(overlay);
  return {
    data: m.data,
    rows: m.shape[0],
    cols: m.shape[1],
    q0,
    k0,
    factor: Math.max(1, factor),
    overlay: o && o.shape[0] === m.shape[0] && o.shape[1] === m.shape[1] ? o.data : null,
    image: null,
    imageKey: "",
  };
}

function render({ model, el, experimental }) {
  const [banner, cleanupBanner] = errorBanner(model);
  const canvas = h("canvas", { class: "sv-canvas" });
  const readout = h("div", { class: "sv-readout", dataset: { sv: "readout" } }, "\u00a0");
  const title = h("span", { class: "sv-title" });
  const scaleSelect = h(
    "select",
    { class: "sv-select", "aria-label": "colour scale", "data-lm-suppress-shortcuts": "true" },
    h("option", { value: "linear" }, "linear"),
    h("option", { value: "log" }, "log"),
  );
  const resetButton = h("button", { class: "sv-button", type: "button", title: "Show the whole sequence" }, "Reset zoom");
  const legend = h(
    "span",
    { class: "sv-legend" },
    h("span", { class: "sv-swatch", style: { background: SINK_COLOR } }),
    "sink ",
    h("span", { class: "sv-swatch", style: { background: HEAVY_COLOR } }),
    "heavy hitter ",
    h("span", { class: "sv-swatch sv-swatch-evicted" }),
    h("span", { class: "sv-policy-note" }),
  );
  const root = h(
    "div",
    { class: "sv-root sv-heatmap", dataset: { sv: "heatmap" } },
    h("div", { class: "sv-toolbar" }, title, scaleSelect, resetButton, legend),
    canvas,
    readout,
    banner,
  );
  el.append(root);

  let win = { q0: 0, q1: 1, k0: 0, k1: 1 };
  let base = null;
  let detail = null;
  let profile = null;
  let keepMask = null;
  let hover = null;
  let drag = null;
  let requestSeq = 0;
  let ctx = null;
  let geom = null;
  let colors = {};

  const total = () => Math.max(1, model.get("seq_len") || 0);
  const mode = () => (model.get("mode") === "stats" ? "stats" : "full");

  function readColors() {
    colors = {
      bg: cssVar(root, "--sv-panel", "#ffffff"),
      fg: cssVar(root, "--sv-fg", "#1f1f1f"),
      muted: cssVar(root, "--sv-muted", "#777777"),
      accent: cssVar(root, "--sv-accent", "#1976d2"),
    };
  }

  function layout() {
    const s = SIZE[mode()];
    ctx = setupCanvas(canvas, s.w, s.h);
    geom = { ...s, pw: s.w - s.left - s.right, ph: s.h - s.top - s.bottom };
  }

  function resetWindow() {
    const T = total();
    win = { q0: 0, q1: T, k0: 0, k1: T };
    detail = null;
  }

  function loadBase() {
    base = tileFromPayload(model.get("matrix"), model.get("overlay"), 0, 0, model.get("factor") || 1);
    const p = decodeArray(model.get("profile"));
    profile = p ? p.data : null;
    const km = decodeArray(model.get("keep_mask"));
    keepMask = km ? km.data : null;
  }

  function updateHeader() {
    const layer = model.get("layer");
    const head = model.get("head");
    const T = total();
    const zoomed = !isFullWindow(win, T);
    title.textContent =
      mode() === "stats"
        ? `Attention received per key · layer ${layer} · head ${head}`
        : `Attention · layer ${layer} · head ${head}${zoomed ? ` · queries ${win.q0}–${win.q1 - 1}, keys ${win.k0}–${win.k1 - 1}` : ""}`;
    const policy = model.get("policy");
    legend.querySelector(".sv-policy-note").textContent = policy ? `evicted by ${policy}` : "no policy overlay";
    scaleSelect.value = model.get("scale") === "log" ? "log" : "linear";
    resetButton.disabled = !zoomed;
    root.dataset.layer = String(layer);
    root.dataset.head = String(head);
    root.dataset.mode = mode();
    root.dataset.zoomed = zoomed ? "true" : "false";
  }

  // ---- full mode -------------------------------------------------------------------------
  function tileImage(tile, scaleFn) {
    const key = `${model.get("scale")}|${tile.vmax}`;
    if (tile.image && tile.imageKey === key) return tile.image;
    const img = new ImageData(tile.cols, tile.rows);
    const px = img.data;
    for (let i = 0; i < tile.rows; i++) {
      const qLast = tile.q0 + (i + 1) * tile.factor - 1;
      for (let j = 0; j < tile.cols; j++) {
        const kFirst = tile.k0 + j * tile.factor;
        const o = (i * tile.cols + j) * 4;
        if (kFirst > qLast) {
          px[o + 3] = 0; // wholly in the future: nothing to show
          continue;
        }
        const v = tile.data[i * tile.cols + j];
        let rgb = colorAt(scaleFn(v), VIRIDIS);
        if (tile.overlay) {
          const evicted = tile.overlay[i * tile.cols + j] / 255;
          if (evicted > 0) rgb = greyOut(rgb, 0.35 + 0.6 * evicted, 190);
        }
        px[o] = rgb[0];
        px[o + 1] = rgb[1];
        px[o + 2] = rgb[2];
        px[o + 3] = 255;
      }
    }
    const off = document.createElement("canvas");
    off.width = tile.cols;
    off.height = tile.rows;
    off.getContext("2d").putImageData(img, 0, 0);
    tile.image = off;
    tile.imageKey = key;
    return off;
  }

  function tileCovers(tile, w) {
    return (
      tile &&
      tile.q0 <= w.q0 &&
      tile.k0 <= w.k0 &&
      tile.q0 + tile.rows * tile.factor >= w.q1 &&
      tile.k0 + tile.cols * tile.factor >= w.k1
    );
  }

  function drawTile(tile, scaleFn) {
    const img = tileImage(tile, scaleFn);
    const f = tile.factor;
    ctx.imageSmoothingEnabled = false;
    ctx.drawImage(
      img,
      (win.k0 - tile.k0) / f,
      (win.q0 - tile.q0) / f,
      (win.k1 - win.k0) / f,
      (win.q1 - win.q0) / f,
      geom.left,
      geom.top,
      geom.pw,
      geom.ph,
    );
  }

  function xOfKey(k) {
    return geom.left + ((k - win.k0) / (win.k1 - win.k0)) * geom.pw;
  }
  function yOfQuery(q) {
    return geom.top + ((q - win.q0) / (win.q1 - win.q0)) * geom.ph;
  }

  function drawMarks(yBase) {
    const mark = (positions, color, dy) => {
      ctx.fillStyle = color;
      for (const k of positions || []) {
        if (k < win.k0 || k >= win.k1) continue;
        const x = xOfKey(k + 0.5);
        ctx.beginPath();
        ctx.moveTo(x - 4, yBase - 9 - dy);
        ctx.lineTo(x + 4, yBase - 9 - dy);
        ctx.lineTo(x, yBase - 2 - dy);
        ctx.closePath();
        ctx.fill();
      }
    };
    mark(model.get("heavy_hitters"), HEAVY_COLOR, 0);
    mark(model.get("sinks"), SINK_COLOR, 0);
  }

  function labelStep(span, pixels, minGap) {
    const per = pixels / Math.max(1, span);
    return Math.max(1, Math.ceil(minGap / per));
  }

  function drawLabels() {
    const tokens = model.get("tokens") || [];
    ctx.fillStyle = colors.fg;
    ctx.font = "10px var(--jp-code-font-family, monospace)";
    ctx.textBaseline = "middle";
    const qStep = labelStep(win.q1 - win.q0, geom.ph, 11);
    ctx.textAlign = "right";
    for (let q = win.q0; q < win.q1; q += qStep) {
      const label = qStep === 1 ? `${formatToken(tokens[q], 10)} ${q}` : `${q} ${formatToken(tokens[q], 8)}`;
      ctx.fillText(label, geom.left - 4, yOfQuery(q + 0.5));
    }
    const kStep = labelStep(win.k1 - win.k0, geom.pw, 11);
    ctx.save();
    ctx.textAlign = "left";
    for (let k = win.k0; k < win.k1; k += kStep) {
      ctx.save();
      ctx.translate(xOfKey(k + 0.5), geom.top - 12);
      ctx.rotate(-Math.PI / 3);
      ctx.fillText(kStep === 1 ? formatToken(tokens[k], 10) : `${k} ${formatToken(tokens[k], 6)}`, 0, 0);
      ctx.restore();
    }
    ctx.restore();
  }

  function drawFull() {
    const tile = detail && tileCovers(detail, win) ? detail : base;
    if (!tile) {
      ctx.fillStyle = colors.muted;
      ctx.fillText("no attention matrix", geom.left + 10, geom.top + 20);
      return;
    }
    if (tile.vmax === undefined) tile.vmax = finiteMax(tile.data);
    const scaleFn = makeScale({ vmax: tile.vmax, log: model.get("scale") === "log" });
    ctx.strokeStyle = colors.muted;
    ctx.strokeRect(geom.left - 0.5, geom.top - 0.5, geom.pw + 1, geom.ph + 1);
    drawTile(tile, scaleFn);
    drawLabels();
    drawMarks(geom.top);
    if (hover) {
      const [qa, qb] = hover.q;
      const [ka, kb] = hover.k;
      ctx.strokeStyle = colors.accent;
      ctx.lineWidth = 1.5;
      ctx.strokeRect(xOfKey(ka), yOfQuery(qa), Math.max(2, xOfKey(kb) - xOfKey(ka)), Math.max(2, yOfQuery(qb) - yOfQuery(qa)));
      ctx.lineWidth = 1;
    }
  }

  // ---- stats mode ------------------------------------------------------------------------
  function drawStats() {
    if (!profile) {
      ctx.fillStyle = colors.muted;
      ctx.fillText("no statistics", geom.left + 10, geom.top + 20);
      return;
    }
    const bins = Math.max(1, Math.min(Math.floor(geom.pw), win.k1 - win.k0));
    const pooled = maxPool1d(profile, win.k0, win.k1, bins);
    const kept = keepMask ? maxPool1d(keepMask, win.k0, win.k1, bins) : null;
    const vmax = Math.max(1e-12, finiteMax(profile));
    const log = model.get("scale") === "log";
    const scaleFn = makeScale({ vmax, log });
    const bw = geom.pw / bins;
    ctx.strokeStyle = colors.muted;
    ctx.strokeRect(geom.left - 0.5, geom.top - 0.5, geom.pw + 1, geom.ph + 1);
    for (let b = 0; b < bins; b++) {
      const t = scaleFn(pooled[b]);
      if (t <= 0) continue;
      let rgb = colorAt(0.15 + 0.85 * t);
      if (kept && kept[b] === 0) rgb = greyOut(rgb, 0.85, 190);
      ctx.fillStyle = `rgb(${rgb[0]}, ${rgb[1]}, ${rgb[2]})`;
      const hgt = Math.max(1, t * geom.ph);
      ctx.fillRect(geom.left + b * bw, geom.top + geom.ph - hgt, Math.max(1, bw - (bw > 3 ? 1 : 0)), hgt);
    }
    ctx.fillStyle = colors.fg;
    ctx.font = "10px var(--jp-code-font-family, monospace)";
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    ctx.fillText(vmax.toPrecision(2), geom.left - 4, geom.top + 4);
    ctx.fillText(log ? (vmax * 1e-4).toPrecision(1) : "0", geom.left - 4, geom.top + geom.ph);
    const tokens = model.get("tokens") || [];
    const kStep = labelStep(win.k1 - win.k0, geom.pw, 11);
    ctx.textAlign = "right";
    for (let k = win.k0; k < win.k1; k += kStep) {
      ctx.save();
      ctx.translate(xOfKey(k + 0.5), geom.top + geom.ph + 6);
      ctx.rotate(-Math.PI / 3);
      ctx.fillText(kStep === 1 ? formatToken(tokens[k], 10) : `${k}`, 0, 0);
      ctx.restore();
    }
    drawMarks(geom.top + 10);
    if (hover) {
      ctx.strokeStyle = colors.accent;
      ctx.strokeRect(xOfKey(hover.k[0]), geom.top, Math.max(2, xOfKey(hover.k[1]) - xOfKey(hover.k[0])), geom.ph);
    }
  }

  function draw() {
    if (!ctx) return;
    const s = SIZE[mode()];
    ctx.clearRect(0, 0, s.w, s.h);
    ctx.fillStyle = colors.bg;
    ctx.fillRect(0, 0, s.w, s.h);
    ctx.font = "11px var(--jp-ui-font-family, sans-serif)";
    if (mode() === "stats") drawStats();
    else drawFull();
    if (drag) {
      ctx.strokeStyle = colors.accent;
      ctx.setLineDash([4, 3]);
      const x0 = Math.min(drag.x0, drag.x1);
      const y0 = mode() === "stats" ? geom.top : Math.min(drag.y0, drag.y1);
      const hh = mode() === "stats" ? geom.ph : Math.abs(drag.y1 - drag.y0);
      ctx.strokeRect(x0, y0, Math.abs(drag.x1 - drag.x0), hh);
      ctx.setLineDash([]);
    }
    updateHeader();
  }

  // ---- detail on demand ------------------------------------------------------------------
  async function fetchDetail() {
    if (mode() === "stats" || isFullWindow(win, total()) || !experimental?.invoke) {
      detail = null;
      draw();
      return;
    }
    const seq = ++requestSeq;
    const want = { ...win, layer: model.get("layer"), head: model.get("head") };
    try {
      const [msg, buffers] = await experimental.invoke("fetch_window", want, {
        signal: AbortSignal.timeout(15000),
      });
      if (seq !== requestSeq) return; // a newer request superseded this one
      if (!msg || msg.error) {
        readout.textContent = msg?.error || "could not fetch detail";
        return;
      }
      const matrix = { view: toBytes(buffers[0]), dtype: msg.dtype, shape: msg.shape };
      const overlay = msg.has_overlay ? { view: toBytes(buffers[1]), dtype: "uint8", shape: msg.shape } : null;
      detail = tileFromPayload(matrix, overlay, msg.q0, msg.k0, msg.factor);
      root.dataset.detailFactor = String(msg.factor);
      draw();
    } catch (err) {
      if (seq === requestSeq) readout.textContent = `detail request failed: ${err?.message || err}`;
    }
  }
  const requestDetail = throttle(fetchDetail, 120);

  // ---- pointer ---------------------------------------------------------------------------
  function pointerTokens(event) {
    const r = canvas.getBoundingClientRect();
    const x = event.clientX - r.left;
    const y = event.clientY - r.top;
    const inside = x >= geom.left && x < geom.left + geom.pw && y >= geom.top && y < geom.top + geom.ph;
    const k = win.k0 + ((x - geom.left) / geom.pw) * (win.k1 - win.k0);
    const q = win.q0 + ((y - geom.top) / geom.ph) * (win.q1 - win.q0);
    return { x, y, k, q, inside };
  }

  function describe(p) {
    const tokens = model.get("tokens") || [];
    const T = total();
    const k = Math.max(0, Math.min(T - 1, Math.floor(p.k)));
    if (mode() === "stats") {
      const bins = Math.max(1, Math.min(Math.floor(geom.pw), win.k1 - win.k0));
      const b = Math.floor(((p.x - geom.left) / geom.pw) * bins);
      const a = win.k0 + Math.floor((b * (win.k1 - win.k0)) / bins);
      const z = Math.max(a + 1, win.k0 + Math.floor(((b + 1) * (win.k1 - win.k0)) / bins));
      const v = maxPool1d(profile || [], a, z, 1)[0];
      hover = { k: [a, z] };
      const where = z - a === 1 ? `key ${a} “${formatToken(tokens[a], 24)}”` : `keys ${a}–${z - 1}`;
      const evicted = keepMask && z - a === 1 && !keepMask[a] ? " · evicted" : "";
      return `${where} · mean attention received ${v.toFixed(4)}${evicted}`;
    }
    const tile = detail && tileCovers(detail, win) ? detail : base;
    if (!tile) return "";
    const q = Math.max(0, Math.min(T - 1, Math.floor(p.q)));
    const i = Math.floor((q - tile.q0) / tile.factor);
    const j = Math.floor((k - tile.k0) / tile.factor);
    if (i < 0 || j < 0 || i >= tile.rows || j >= tile.cols) return "";
    const [qa, qb] = cellRange(i, tile.factor, tile.q0, T);
    const [ka, kb] = cellRange(j, tile.factor, tile.k0, T);
    hover = { q: [qa, qb], k: [ka, kb] };
    const v = tile.data[i * tile.cols + j];
    const ev = tile.overlay ? tile.overlay[i * tile.cols + j] / 255 : 0;
    const evicted = !tile.overlay ? "" : tile.factor === 1 ? (ev > 0 ? " · evicted" : " · in cache") : ` · ${Math.round(ev * 100)} % evicted`;
    if (tile.factor === 1 && ka > qa) {
      return `query ${qa} “${formatToken(tokens[qa], 24)}” → key ${ka} “${formatToken(tokens[ka], 24)}” · a later token: not attended (causal)`;
    }
    if (tile.factor === 1) {
      return `query ${qa} “${formatToken(tokens[qa], 24)}” → key ${ka} “${formatToken(tokens[ka], 24)}” · weight ${v.toFixed(4)}${evicted}`;
    }
    return `queries ${qa}–${qb - 1} → keys ${ka}–${kb - 1} · max weight ${v.toFixed(4)} (zoom in for single tokens)${evicted}`;
  }

  function onMove(event) {
    const p = pointerTokens(event);
    if (drag) {
      drag.x1 = Math.max(geom.left, Math.min(geom.left + geom.pw, p.x));
      drag.y1 = Math.max(geom.top, Math.min(geom.top + geom.ph, p.y));
      draw();
      return;
    }
    if (!p.inside) {
      if (hover) {
        hover = null;
        draw();
      }
      return;
    }
    readout.textContent = describe(p) || "\u00a0";
    draw();
  }

  function onLeave() {
    hover = null;
    draw();
  }

  function onDown(event) {
    const p = pointerTokens(event);
    if (!p.inside || event.button !== 0) return;
    drag = { x0: p.x, y0: p.y, x1: p.x, y1: p.y };
    event.preventDefault();
  }

  function onUp() {
    if (!drag) return;
    const d = drag;
    drag = null;
    const T = total();
    if (Math.abs(d.x1 - d.x0) > 4 && (mode() === "stats" || Math.abs(d.y1 - d.y0) > 4)) {
      const toK = (x) => win.k0 + ((x - geom.left) / geom.pw) * (win.k1 - win.k0);
      const toQ = (y) => win.q0 + ((y - geom.top) / geom.ph) * (win.q1 - win.q0);
      const k0 = Math.max(0, Math.floor(toK(Math.min(d.x0, d.x1))));
      const k1 = Math.min(T, Math.max(k0 + 1, Math.ceil(toK(Math.max(d.x0, d.x1)))));
      if (mode() === "stats") win = { ...win, k0, k1 };
      else {
        const q0 = Math.max(0, Math.floor(toQ(Math.min(d.y0, d.y1))));
        const q1 = Math.min(T, Math.max(q0 + 1, Math.ceil(toQ(Math.max(d.y0, d.y1)))));
        win = { q0, q1, k0, k1 };
      }
      requestDetail();
    }
    draw();
  }

  function onWheel(event) {
    const p = pointerTokens(event);
    if (!p.inside) return;
    event.preventDefault();
    const factor = event.deltaY > 0 ? 1.25 : 0.8;
    const T = total();
    const next = zoomAround(win, p.q, p.k, factor, T, 4);
    win = mode() === "stats" ? { ...win, k0: next.k0, k1: next.k1 } : next;
    draw();
    requestDetail();
  }

  function onReset() {
    resetWindow();
    requestSeq++;
    draw();
  }

  canvas.addEventListener("mousemove", onMove);
  canvas.addEventListener("mouseleave", onLeave);
  canvas.addEventListener("mousedown", onDown);
  window.addEventListener("mouseup", onUp);
  canvas.addEventListener("wheel", onWheel, { passive: false });
  canvas.addEventListener("dblclick", onReset);
  resetButton.addEventListener("click", onReset);
  scaleSelect.addEventListener("change", () => commit(model, { scale: scaleSelect.value }));

  // ---- model events ----------------------------------------------------------------------
  function onData() {
    loadBase();
    if (isFullWindow(win, total())) detail = null;
    else requestDetail();
    draw();
  }
  function onShape() {
    layout();
    resetWindow();
    loadBase();
    draw();
  }
  function onTheme() {
    readColors();
    draw();
  }
  const redraw = () => draw();
  const events = {
    "change:matrix": onData,
    "change:overlay": onData,
    "change:profile": onData,
    "change:keep_mask": onData,
    "change:mode": onShape,
    "change:seq_len": onShape,
    "change:scale": redraw,
    "change:sinks": redraw,
    "change:heavy_hitters": redraw,
    "change:policy": redraw,
    "change:tokens": redraw,
    "change:layer": redraw,
    "change:head": redraw,
  };
  for (const [name, fn] of Object.entries(events)) model.on(name, fn);
  const cleanupTheme = onThemeChange(onTheme);

  readColors();
  onShape();
  // Styles may resolve a frame later (CSS injected asynchronously): draw again once attached.
  const raf = requestAnimationFrame(() => onTheme());

  return () => {
    cancelAnimationFrame(raf);
    requestDetail.cancel();
    requestSeq++;
    for (const [name, fn] of Object.entries(events)) model.off(name, fn);
    cleanupTheme();
    cleanupBanner();
    window.removeEventListener("mouseup", onUp);
    root.remove();
  };
}

export default { initialize: () => () => {}, render };
