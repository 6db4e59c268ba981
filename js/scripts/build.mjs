// Build the widget bundles into sinkvis_widgets/static/ (one ESM file per component + one CSS file).
// `node scripts/build.mjs --check` rebuilds into a temporary folder and fails when the committed
// bundle differs from a fresh build.
import { mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";

const here = dirname(fileURLToPath(import.meta.url));
const jsRoot = resolve(here, "..");
const staticDir = resolve(jsRoot, "..", "sinkvis_widgets", "static");

const entries = {
  selector: "src/selector.js",
  heatmap: "src/heatmap.js",
  policy_comparison: "src/policy_comparison.js",
  memory_panel: "src/memory_panel.js",
  sinkvis: "src/styles.css",
};

async function bundle(outdir) {
  await build({
    absWorkingDir: jsRoot,
    entryPoints: Object.fromEntries(Object.entries(entries).map(([k, v]) => [k, join(jsRoot, v)])),
    outdir,
    bundle: true,
    format: "esm",
    platform: "browser",
    target: ["es2020"],
    minify: true,
    sourcemap: false,
    legalComments: "none",
    charset: "utf8",
    logLevel: "warning",
  });
}

function listing(dir) {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".js") || f.endsWith(".css"))
    .sort();
}

if (process.argv.includes("--check")) {
  const tmp = mkdtempSync(join(tmpdir(), "sinkvis-bundle-"));
  try {
    await bundle(tmp);
    const fresh = listing(tmp);
    const committed = listing(staticDir);
    const stale = [];
    for (const f of new Set([...fresh, ...committed])) {
      const a = fresh.includes(f) ? readFileSync(join(tmp, f)) : null;
      const b = committed.includes(f) ? readFileSync(join(staticDir, f)) : null;
      if (!a || !b || !a.equals(b)) stale.push(f);
    }
    if (stale.length) {
      console.error(`stale bundle in sinkvis_widgets/static: ${stale.join(", ")} — run \`npm run build\` in js/ and commit`);
      process.exit(1);
    }
    console.log(`bundle is fresh (${fresh.length} files)`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
} else {
  await bundle(staticDir);
  console.log(`built ${listing(staticDir).join(", ")} into ${staticDir}`);
}
