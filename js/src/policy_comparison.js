// PolicyComparison: budget and sink_count sliders, policy checkboxes, and per policy a token
// strip (kept / evicted) with its attention recall and KV bytes. Python re-runs the simulation.

import { decodeArray } from "./codec.js";
import { commit, cssVar, errorBanner, h, onThemeChange, setupCanvas } from "./dom.js";
import { formatBytes, formatShare } from "./format.js";
import { throttle } from "./throttle.js";

const STRIP_W = 420;
const STRIP_H = 14;

function slider(name, label, hook) {
  const input = h("input", {
    type: "range",
    class: "sv-range",
    min: "0",
    max: "1",
    step: "1",
    "aria-label": label,
    "data-lm-suppress-shortcuts": "true",
    dataset: { sv: hook },
  });
  const value = h("output", { class: "sv-value" });
  const row = h("label", { class: "sv-slider" }, h("span", { class: "sv-label" }, label), input, value);
  return { name, input, value, row };
}

function render({ model, el }) {
  const [banner, cleanupBanner] = errorBanner(model);
  const budget = slider("budget", "budget", "budget");
  const sinks = slider("sink_count", "sink_count", "sink-count");
  const checks = h("div", { class: "sv-checks", role: "group", "aria-label": "policies" });
  const strips = h("div", { class: "sv-strips" });
  const caption = h("div", { class: "sv-caption" });
  const root = h(
    "div",
    { class: "sv-root sv-policies", dataset: { sv: "policies" } },
    h("div", { class: "sv-title" }, "Eviction policies"),
    h("div", { class: "sv-controls" }, budget.row, sinks.row),
    checks,
    caption,
    strips,
    banner,
  );
  el.append(root);
  let colors = {};

  // Slider traffic: the model changes at once (labels follow), the kernel gets a throttled
  // stream with the last value always flushed.
  const save = throttle(() => model.save_changes(), () => model.get("sync_throttle_ms") ?? 80);

  function limits() {
    const T = Math.max(1, model.get("seq_len") || 1);
    const b = model.get("budget");
    budget.input.min = "1";
    budget.input.max = String(T);
    sinks.input.min = "0";
    sinks.input.max = String(Math.max(0, Math.min(64, (Number.isFinite(b) ? b : 1) - 1)));
  }

  function syncInputs() {
    limits();
    for (const s of [budget, sinks]) {
      const v = model.get(s.name);
      if (document.activeElement !== s.input || !save.pending()) s.input.value = String(v);
      s.value.textContent = String(v);
    }
  }

  function onInput(s) {
    return () => {
      const v = Number(s.input.value);
      model.set(s.name, v);
      s.value.textContent = String(v);
      if (s.name === "budget") limits();
      save();
    };
  }
  const budgetInput = onInput(budget);
  const sinkInput = onInput(sinks);
  const flush = () => save.flush();
  budget.input.addEventListener("input", budgetInput);
  sinks.input.addEventListener("input", sinkInput);
  budget.input.addEventListener("change", flush);
  sinks.input.addEventListener("change", flush);

  function buildChecks() {
    const selected = new Set(model.get("selected") || []);
    checks.replaceChildren(
      ...(model.get("policies") || []).map((name) => {
        const box = h("input", {
          type: "checkbox",
          checked: selected.has(name),
          dataset: { policy: name },
          "data-lm-suppress-shortcuts": "true",
        });
        box.addEventListener("change", () => {
          const now = new Set(model.get("selected") || []);
          if (box.checked) now.add(name);
          else now.delete(name);
          const order = (model.get("policies") || []).filter((p) => now.has(p));
          commit(model, { selected: order });
        });
        return h("label", { class: "sv-check" }, box, name);
      }),
    );
  }

  function drawStrip(canvas, mask) {
    const ctx = setupCanvas(canvas, STRIP_W, STRIP_H);
    ctx.fillStyle = colors.evicted;
    ctx.fillRect(0, 0, STRIP_W, STRIP_H);
    if (!mask) return;
    const n = mask.length;
    ctx.fillStyle = colors.kept;
    if (n <= STRIP_W) {
      const w = STRIP_W / n;
      for (let i = 0; i < n; i++) if (mask[i]) ctx.fillRect(i * w, 0, Math.max(1, w - (w > 3 ? 0.5 : 0)), STRIP_H);
      return;
    }
    // More tokens than pixels: each pixel column shows the share of its tokens kept.
    for (let x = 0; x < STRIP_W; x++) {
      const a = Math.floor((x * n) / STRIP_W);
      const z = Math.max(a + 1, Math.floor(((x + 1) * n) / STRIP_W));
      let kept = 0;
      for (let i = a; i < z; i++) kept += mask[i] ? 1 : 0;
      if (kept === 0) continue;
      const frac = kept / (z - a);
      ctx.globalAlpha = 0.25 + 0.75 * frac;
      ctx.fillRect(x, 0, 1, STRIP_H);
    }
    ctx.globalAlpha = 1;
  }

  function buildStrips() {
    const results = model.get("results") || [];
    const T = model.get("seq_len") || 0;
    const highlight = model.get("highlight");
    strips.replaceChildren(
      ...results.map((r) => {
        let mask = null;
        try {
          mask = decodeArray(r.keep_mask)?.data ?? null;
        } catch (err) {
          r = { ...r, error: String(err) };
        }
        const canvas = h("canvas", { class: "sv-strip-canvas" });
        const strip = h(
          "div",
          {
            class: "sv-strip",
            dataset: { sv: "strip", policy: r.policy, kept: String(r.kept ?? 0) },
            title: `${r.policy}: ${r.kept ?? 0} of ${T} tokens kept`,
          },
          canvas,
        );
        drawStrip(canvas, mask);
        const name = h(
          "button",
          {
            type: "button",
            class: `sv-policy-name${r.policy === highlight ? " sv-highlight" : ""}`,
            title: "Show this policy's evicted cells on the heatmap",
          },
          r.policy,
        );
        name.addEventListener("click", () => commit(model, { highlight: r.policy === highlight ? "" : r.policy }));
        const numbers = r.error
          ? h("span", { class: "sv-numbers sv-error-text" }, r.error)
          : h(
              "span",
              { class: "sv-numbers" },
              `kept ${r.kept}/${T} · recall ${formatShare(r.attention_recall)}` +
                (r.recall_worst != null ? ` (worst ${formatShare(r.recall_worst)})` : "") +
                ` · KV ${formatBytes(r.kv_bytes)}` +
                (r.perplexity != null ? ` · ppl ${Number(r.perplexity).toFixed(2)}` : ""),
            );
        return h("div", { class: "sv-strip-row" }, name, strip, numbers);
      }),
    );
    caption.textContent = `keep masks of layer ${model.get("layer")} · head ${model.get("head")} (its KV head's cache)`;
  }

  function readColors() {
    colors = {
      kept: cssVar(root, "--sv-kept", "#2e7d32"),
      evicted: cssVar(root, "--sv-evicted", "#d6d6d6"),
    };
  }

  const events = {
    "change:budget": syncInputs,
    "change:sink_count": syncInputs,
    "change:seq_len": syncInputs,
    "change:policies": buildChecks,
    "change:selected": buildChecks,
    "change:results": buildStrips,
    "change:highlight": buildStrips,
  };
  for (const [name, fn] of Object.entries(events)) model.on(name, fn);
  const onTheme = () => {
    readColors();
    buildStrips();
  };
  const cleanupTheme = onThemeChange(onTheme);
  readColors();
  syncInputs();
  buildChecks();
  buildStrips();
  const raf = requestAnimationFrame(onTheme);

  return () => {
    cancelAnimationFrame(raf);
    save.flush();
    for (const [name, fn] of Object.entries(events)) model.off(name, fn);
    budget.input.removeEventListener("input", budgetInput);
    sinks.input.removeEventListener("input", sinkInput);
    budget.input.removeEventListener("change", flush);
    sinks.input.removeEventListener("change", flush);
    cleanupTheme();
    cleanupBanner();
    root.remove();
  };
}

export default { initialize: () => () => {}, render };
