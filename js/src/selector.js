// LayerHeadSelector: a layers x heads grid coloured by each head's sink mass.
// Click or arrow keys select; syncs `layer` (model layer index) and `head`.

import { decodeArray } from "./codec.js";
import { cssColor, finiteMax } from "./colors.js";
import { commit, errorBanner, h } from "./dom.js";

function render({ model, el }) {
  const [banner, cleanupBanner] = errorBanner(model);
  const grid = h("div", {
    class: "sv-grid",
    role: "grid",
    tabindex: "0",
    "aria-label": "Select a layer (columns) and head (rows)",
    "data-lm-suppress-shortcuts": "true",
  });
  const caption = h("div", { class: "sv-caption" });
  const root = h(
    "div",
    { class: "sv-root sv-selector", dataset: { sv: "selector" } },
    h("div", { class: "sv-title" }, "Heads by sink mass"),
    grid,
    caption,
    banner,
  );
  el.append(root);
  let cells = [];

  function layers() {
    return model.get("layers") || [];
  }

  function build() {
    const ls = layers();
    const heads = model.get("heads") || [];
    const nh = heads.length;
    const mass = decodeArray(model.get("sink_mass"));
    const vmax = mass ? Math.max(1e-9, finiteMax(mass.data)) : 1;
    grid.replaceChildren();
    grid.style.gridTemplateColumns = `auto repeat(${ls.length}, minmax(10px, 16px))`;
    cells = [];
    grid.append(h("div", { class: "sv-axis" }, "h\\L"));
    ls.forEach((layer, li) =>
      grid.append(h("div", { class: "sv-axis sv-axis-top" }, li % 5 === 0 || ls.length <= 12 ? String(layer) : "")),
    );
    heads.forEach((head, hi) => {
      grid.append(h("div", { class: "sv-axis" }, String(head)));
      ls.forEach((layer, li) => {
        const v = mass ? mass.data[li * nh + hi] : NaN;
        const cell = h("div", {
          class: "sv-cell",
          role: "gridcell",
          title: `layer ${layer}, head ${head}: sink mass ${Number.isFinite(v) ? v.toFixed(3) : "n/a"}`,
          dataset: { layer: String(layer), head: String(head) },
          style: { background: Number.isFinite(v) ? cssColor(v / vmax) : "transparent" },
        });
        cell.addEventListener("click", () => select(layer, head));
        cells.push(cell);
        grid.append(cell);
      });
    });
    mark();
  }

  function mark() {
    const layer = model.get("layer");
    const head = model.get("head");
    for (const c of cells) {
      const on = Number(c.dataset.layer) === layer && Number(c.dataset.head) === head;
      c.classList.toggle("sv-selected", on);
      c.setAttribute("aria-selected", on ? "true" : "false");
    }
    caption.textContent = `layer ${layer} · head ${head}`;
  }

  function select(layer, head) {
    commit(model, { layer, head });
    mark();
  }

  function onKey(event) {
    const ls = layers();
    const heads = model.get("heads") || [];
    let li = ls.indexOf(model.get("layer"));
    let hi = heads.indexOf(model.get("head"));
    if (event.key === "ArrowLeft") li -= 1;
    else if (event.key === "ArrowRight") li += 1;
    else if (event.key === "ArrowUp") hi -= 1;
    else if (event.key === "ArrowDown") hi += 1;
    else return;
    event.preventDefault();
    event.stopPropagation();
    li = Math.max(0, Math.min(ls.length - 1, li));
    hi = Math.max(0, Math.min(heads.length - 1, hi));
    if (ls.length && heads.length) select(ls[li], heads[hi]);
  }
  grid.addEventListener("keydown", onKey);

  build();
  const rebuild = () => build();
  model.on("change:sink_mass", rebuild);
  model.on("change:layers", rebuild);
  model.on("change:heads", rebuild);
  model.on("change:layer", mark);
  model.on("change:head", mark);
  return () => {
    cleanupBanner();
    grid.removeEventListener("keydown", onKey);
    model.off("change:sink_mass", rebuild);
    model.off("change:layers", rebuild);
    model.off("change:heads", rebuild);
    model.off("change:layer", mark);
    model.off("change:head", mark);
    root.remove();
  };
}

export default { initialize: () => () => {}, render };
