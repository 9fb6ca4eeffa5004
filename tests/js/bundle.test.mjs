// The module TensorBoard loads is index.js and every module it imports in one file, built by
// tb_filters/plugin/bundle.py: each bundled module must export exactly what the module itself
// does, the same constants, and functions of the same source.

import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { fileURLToPath, pathToFileURL } from "node:url";

const REPO = fileURLToPath(new URL("../../", import.meta.url));
const FRONTEND = new URL("../../frontend/", import.meta.url);
const VENV_PYTHON = join(REPO, ".venv", "bin", "python");

function bundleText() {
  const python = existsSync(VENV_PYTHON) ? VENV_PYTHON : "python3";
  const script = [
    "import importlib.resources, sys",
    "from tb_filters.plugin.filters_plugin import BUNDLE",
    "from tb_filters.plugin.responses import StaticFiles",
    "static = StaticFiles(importlib.resources.files('tb_filters.frontend'), bundle_as=(BUNDLE, 'index.js'))",
    "sys.stdout.write(static.bundle_text('index.js'))",
  ].join("\n");
  return execFileSync(python, ["-c", script], { cwd: REPO, encoding: "utf8", maxBuffer: 1 << 26 });
}

function modules() {
  const names = [];
  for (const entry of readdirSync(FRONTEND, { withFileTypes: true })) {
    if (entry.isFile() && entry.name.endsWith(".js")) names.push(entry.name);
    if (entry.isDirectory()) {
      for (const inner of readdirSync(new URL(`${entry.name}/`, FRONTEND))) {
        if (inner.endsWith(".js")) names.push(`${entry.name}/${inner}`);
      }
    }
  }
  return names.sort();
}

test("the bundle holds every module, each exporting what the module does", async () => {
  // The bundle's loader, exported for this test only, gives each bundled module's exports.
  const text = `${bundleText()}\nexport { __tbFiltersBundleLoad as bundledModule };\n`;
  const folder = mkdtempSync(join(tmpdir(), "tb-filters-bundle-"));
  try {
    const file = join(folder, "bundle.mjs");
    writeFileSync(file, text);
    const bundled = await import(pathToFileURL(file).href);
    assert.equal(typeof bundled.render, "function");
    for (const name of modules()) {
      const real = await import(new URL(name, FRONTEND).href);
      const copy = bundled.bundledModule(name);
      assert.deepEqual(Object.keys(copy).sort(), Object.keys(real).sort(), name);
      for (const key of Object.keys(real)) {
        if (typeof real[key] === "function") assert.equal(String(copy[key]), String(real[key]), `${name} ${key}`);
        else assert.deepEqual(copy[key], real[key], `${name} ${key}`);
      }
    }
  } finally {
    rmSync(folder, { recursive: true, force: true });
  }
});

test("the bundle refuses what it cannot keep exact", () => {
  const python = existsSync(VENV_PYTHON) ? VENV_PYTHON : "python3";
  const refused = (sources) => {
    const script = [
      "import json, sys",
      "from tb_filters.plugin import bundle",
      "sources = json.loads(sys.argv[1])",
      "try:",
      "    bundle.bundle('index.js', sources.__getitem__, set(sources))",
      "    print('bundled')",
      "except bundle.BundleError as e:",
      "    print('refused:', e)",
    ].join("\n");
    return execFileSync(python, ["-c", script, JSON.stringify(sources)], { cwd: REPO, encoding: "utf8" }).trim();
  };
  assert.equal(refused({ "index.js": 'import { a } from "./a.js";\nexport function render() {}', "a.js": "export const a = 1;" }),
    "bundled");
  assert.match(refused({ "index.js": 'import { a } from "./a.js";', "a.js": 'import "./index.js";\nexport const a = 1;' }),
    /^refused: import cycle: index\.js -> a\.js -> index\.js/);
  assert.match(refused({ "index.js": 'import {\n  a,\n} from "./a.js";', "a.js": "export const a = 1;" }),
    /^refused: index\.js:1: an import or export the bundle does not handle/);
  assert.match(refused({ "index.js": "export default 1;" }), /^refused: index\.js:1/);
  assert.match(refused({ "index.js": "export let a = 1;" }), /^refused: index\.js:1/);
  assert.match(refused({ "index.js": 'const m = import("./a.js");', "a.js": "" }), /dynamic import/);
  assert.match(refused({ "index.js": 'import "./b.js";' }), /imports 'b\.js', not a served module/);
  assert.match(refused({ "index.js": 'import "../b.js";' }), /outside the frontend/);
});
