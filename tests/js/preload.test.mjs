// index.js names every module of the tab at its top, so the browser requests them
// all at once instead of discovering them import by import: the list must be whole.

import assert from "node:assert/strict";
import { readFileSync, readdirSync } from "node:fs";
import { test } from "node:test";

const FRONTEND = new URL("../../frontend/", import.meta.url);

function modules() {
  const names = [];
  for (const entry of readdirSync(FRONTEND, { withFileTypes: true })) {
    if (entry.isFile() && entry.name.endsWith(".js") && entry.name !== "index.js") names.push(entry.name);
    if (entry.isDirectory()) {
      for (const inner of readdirSync(new URL(`${entry.name}/`, FRONTEND))) {
        if (inner.endsWith(".js")) names.push(`${entry.name}/${inner}`);
      }
    }
  }
  return names.sort();
}

test("index.js requests every module of the tab up front", () => {
  const source = readFileSync(new URL("index.js", FRONTEND), "utf8");
  const preloaded = [...source.matchAll(/^import "\.\/([^"]+)";$/gm)].map((m) => m[1]);
  assert.deepEqual([...preloaded].sort(), modules());
});
