// MemoryPanel: KV-cache bytes, full cache vs budget per policy; capture bytes; device memory.

import { errorBanner, h } from "./dom.js";
import { formatBytes } from "./format.js";

function bar(label, bytes, full, cls) {
  const share = full > 0 ? Math.min(1, bytes / full) : 0;
  return h(
    "div",
    { class: "sv-bar-row", dataset: { label } },
    h("span", { class: "sv-bar-label" }, label),
    h("span", { class: "sv-bar-track" }, h("span", { class: `sv-bar ${cls}`, style: { width: `${(100 * share).toFixed(1)}%` } })),
    h("span", { class: "sv-bar-value" }, formatBytes(bytes)),
  );
}

function render({ model, el }) {
  const [banner, cleanupBanner] = errorBanner(model);
  const bars = h("div", { class: "sv-bars" });
  const facts = h("dl", { class: "sv-facts" });
  const root = h(
    "div",
    { class: "sv-root sv-memory", dataset: { sv: "memory" } },
    h("div", { class: "sv-title" }, "Memory"),
    bars,
    facts,
    banner,
  );
  el.append(root);

  function update() {
    const stats = model.get("stats") || {};
    const per = model.get("per_policy") || [];
    const full = Number(stats.kv_cache_bytes_full) || 0;
    bars.replaceChildren(
      bar("KV cache, full", full, full, "sv-bar-full"),
      ...per.map((p) => bar(`${p.policy} @ budget ${model.get("budget")}`, Number(p.kv_bytes) || 0, full, "sv-bar-policy")),
    );
    const rows = [
      ["capture", formatBytes(stats.capture_bytes)],
      ["device", stats.device ?? "n/a"],
      ["process RSS", formatBytes(stats.process_rss_bytes)],
      ["process peak RSS", formatBytes(stats.process_peak_rss_bytes)],
    ];
    if (stats.cuda_allocated_bytes != null) {
      rows.push(["CUDA allocated", formatBytes(stats.cuda_allocated_bytes)]);
      rows.push(["CUDA reserved", formatBytes(stats.cuda_reserved_bytes)]);
      rows.push(["CUDA peak", formatBytes(stats.cuda_peak_bytes)]);
    }
    facts.replaceChildren(...rows.flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, String(v))]));
  }

  update();
  for (const name of ["change:stats", "change:per_policy", "change:budget"]) model.on(name, update);
  return () => {
    for (const name of ["change:stats", "change:per_policy", "change:budget"]) model.off(name, update);
    cleanupBanner();
    root.remove();
  };
}

export default { initialize: () => () => {}, render };
