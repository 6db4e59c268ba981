// Small DOM helpers shared by the components (browser only).

/** Create an element: h("div", {class: "x", dataset: {sv: "y"}}, child, "text"). */
export function h(tag, props = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(props)) {
    if (value == null || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "style") Object.assign(el.style, value);
    else if (key.startsWith("on")) el.addEventListener(key.slice(2), value);
    else if (key in el && typeof value !== "string") el[key] = value;
    else el.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child == null || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
  return el;
}

/**
 * A visible error banner bound to the model's `error` trait. Returns [element, cleanup].
 */
export function errorBanner(model) {
  const el = h("div", { class: "sv-error", role: "alert", dataset: { sv: "error" } });
  const update = () => {
    const msg = model.get("error") || "";
    el.textContent = msg;
    el.hidden = !msg;
  };
  update();
  model.on("change:error", update);
  return [el, () => model.off("change:error", update)];
}

/** Read a CSS custom property from an element, with a fallback. */
export function cssVar(el, name, fallback) {
  const v = getComputedStyle(el).getPropertyValue(name).trim();
  return v || fallback;
}

/**
 * Call `fn` when JupyterLab switches theme (body attribute data-jp-theme-light) or the OS
 * scheme changes. Returns a cleanup function.
 */
export function onThemeChange(fn) {
  const obs = new MutationObserver(() => fn());
  obs.observe(document.body, { attributes: true, attributeFilter: ["data-jp-theme-light", "data-jp-theme-name"] });
  const mq = window.matchMedia ? window.matchMedia("(prefers-color-scheme: dark)") : null;
  mq?.addEventListener?.("change", fn);
  return () => {
    obs.disconnect();
    mq?.removeEventListener?.("change", fn);
  };
}

/** Size a canvas for the device pixel ratio; returns its 2-D context scaled to CSS pixels. */
export function setupCanvas(canvas, width, height) {
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(width * dpr);
  canvas.height = Math.round(height * dpr);
  canvas.style.width = `${width}px`;
  canvas.style.height = `${height}px`;
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  return ctx;
}

/** Send a model change to the kernel. */
export function commit(model, changes) {
  for (const [k, v] of Object.entries(changes)) model.set(k, v);
  model.save_changes();
}
