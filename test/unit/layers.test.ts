// The layers, as the imports have them: a test that reads every source file's imports, so a
// boundary crossed fails here rather than being noticed in review.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { builtinModules } from "node:module";
import { dirname, join, relative, resolve } from "node:path";

interface Import { from: string; spec: string; typeOnly: boolean; target?: string }

const ROOT = process.cwd();

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? files(path) : /\.ts$/.test(name) ? [relative(ROOT, path)] : [];
  });
}

const IMPORT = /(?:^|\n)\s*(import|export)\s+(type\s+)?(?:[^"';]*?\sfrom\s+)?["']([^"']+)["']|\b(?:import|require)\(\s*["']([^"']+)["']\s*\)/g;

function importsOf(file: string): Import[] {
  const text = readFileSync(file, "utf8");
  const out: Import[] = [];
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[3] ?? m[4]!;
    const typeOnly = m[2] !== undefined;
    let target: string | undefined;
    if (spec.startsWith(".")) {
      const base = resolve(dirname(file), spec);
      for (const candidate of [`${base}.ts`, join(base, "index.ts"), base]) {
        try {
          if (statSync(candidate).isFile()) { target = relative(ROOT, candidate); break; }
        } catch {
          // not this one
        }
      }
      assert.ok(target, `${file}: ${spec} resolves to a file`);
    }
    out.push({ from: file, spec, typeOnly, ...(target ? { target } : {}) });
  }
  return out;
}

const layerOf = (path: string): string => (path.startsWith("webview/") ? "webview" : path.split("/")[1]!);
const isNode = (spec: string): boolean => spec.startsWith("node:") || builtinModules.includes(spec);

/** What each layer may import: other layers, and packages beyond Node's own. */
const ALLOWED: Record<string, { layers: string[]; packages: string[] }> = {
  core: { layers: ["core"], packages: ["ignore"] },
  shared: { layers: ["shared", "core"], packages: [] },
  client: { layers: ["client", "shared", "core"], packages: [] },
  engine: { layers: ["engine", "shared", "core"], packages: ["node-llama-cpp"] },
  cli: { layers: ["cli", "client", "engine", "shared", "core"], packages: [] },
  extension: { layers: ["extension", "client", "shared", "core"], packages: ["vscode"] },
  webview: { layers: ["webview", "shared", "core"], packages: [] },
};

const all = [...files("src"), ...files("webview")];

test("each layer imports only the layers below it: core needs nothing, shared only core, the extension no engine code", () => {
  const broken: string[] = [];
  for (const file of all) {
    const layer = layerOf(file);
    const rule = ALLOWED[layer];
    assert.ok(rule, `${file}: a layer the rules know (${layer})`);
    for (const i of importsOf(file)) {
      if (i.target) {
        if (!rule.layers.includes(layerOf(i.target))) broken.push(`${file} imports ${i.target}`);
      } else if (!isNode(i.spec) && !rule.packages.includes(i.spec)) {
        broken.push(`${file} imports the package ${i.spec}`);
      } else if (isNode(i.spec) && layer === "webview") {
        broken.push(`${file} imports ${i.spec}`);
      }
    }
  }
  assert.deepEqual(broken, []);
});

test("the webview's code reaches, through its value imports, no module that needs Node", () => {
  const seen = new Set<string>();
  const bad: string[] = [];
  const visit = (file: string, via: string[]): void => {
    if (seen.has(file)) return;
    seen.add(file);
    for (const i of importsOf(file)) {
      if (i.typeOnly) continue;
      if (i.target) visit(i.target, [...via, file]);
      else bad.push(`${[...via, file].join(" -> ")} imports ${i.spec}`);
    }
  };
  for (const file of files("webview")) visit(file, []);
  assert.deepEqual(bad, []);
  assert.ok(seen.size > 3, "the walk found the webview's modules");
});

test("the rules catch what they are meant to catch", () => {
  // The checker itself, on imports written here: a broken rule must not pass silently.
  const text = 'import * as vscode from "vscode";\nimport type { X } from "../engine/pipeline";\nexport { y } from "./z";\nconst m = await import("node-llama-cpp");\n';
  const specs = [...text.matchAll(IMPORT)].map((m) => [m[3] ?? m[4], m[2] !== undefined]);
  assert.deepEqual(specs, [["vscode", false], ["../engine/pipeline", true], ["./z", false], ["node-llama-cpp", false]]);
  assert.ok(!ALLOWED.extension!.layers.includes("engine") && !ALLOWED.shared!.layers.includes("engine") && !ALLOWED.core!.packages.includes("vscode"));
});
