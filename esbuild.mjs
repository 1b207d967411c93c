// Builds the extension, the engine's process and the CLI (node, cjs) and the webview (browser).
// node-llama-cpp stays external: it is ESM-only with top-level await and native binaries, so it
// is loaded at run time with import() from node_modules, which the VSIX ships.
import * as esbuild from "esbuild";
import { spawnSync } from "node:child_process";
import { chmodSync, copyFileSync, mkdirSync, rmSync } from "node:fs";

const production = process.argv.includes("--production");
// --outdir DIR: build elsewhere (packaging stages a VSIX without touching the dist/ the tests run).
const outArg = process.argv.indexOf("--outdir");
const out = outArg > 0 ? process.argv[outArg + 1] : "dist";
const watch = process.argv.includes("--watch");

const node = {
  bundle: true,
  platform: "node",
  format: "cjs",
  target: "node20",
  sourcemap: !production,
  minify: production,
  external: ["vscode", "node-llama-cpp"],
  logLevel: "warning",
};

// A clean dist: the VSIX ships all of it, so nothing stale may linger.
rmSync(out, { recursive: true, force: true });

const builds = [
  { ...node, entryPoints: ["src/extension/extension.ts"], outfile: `${out}/extension.js` },
  { ...node, entryPoints: ["src/cli/main.ts"], outfile: `${out}/cli.js`, banner: { js: "#!/usr/bin/env node" } },
  { ...node, entryPoints: ["src/engine/tokens/tokenizerWorker.ts"], outfile: `${out}/tokenizerWorker.js` },
  { ...node, entryPoints: ["src/engine/host.ts"], outfile: `${out}/engineHost.js` },
  { ...node, entryPoints: ["src/engine/backend/gpuProbe.ts"], outfile: `${out}/gpuProbe.js` },
  {
    bundle: true,
    platform: "browser",
    format: "iife",
    target: "es2022",
    sourcemap: !production,
    minify: production,
    entryPoints: ["webview/main.ts"],
    outfile: `${out}/media/webview.js`,
    logLevel: "warning",
  },
];

// The webview may load only from dist/media (its localResourceRoots): styles and codicons go there.
mkdirSync(`${out}/media`, { recursive: true });
copyFileSync("webview/style.css", `${out}/media/webview.css`);
for (const f of ["codicon.css", "codicon.ttf"]) copyFileSync(`node_modules/@vscode/codicons/dist/${f}`, `${out}/media/${f}`);

// The addon shim (src/engine/backend/addonShim.c and decodeAhead.c), for this machine's Linux: a C compiler is all
// it needs (no llama.cpp headers). Without one the engine runs as before, only slower.
if (process.platform === "linux") {
  const so = `${out}/addon-shim-linux-${process.arch}.so`;
  const cc = spawnSync(process.env.CC || "cc", ["-shared", "-fPIC", "-O2", "-Wall", "-Werror", "-o", so, "src/engine/backend/addonShim.c", "src/engine/backend/decodeAhead.c", "src/engine/backend/sharedCells.c", "-ldl", "-lpthread"], { stdio: ["ignore", "inherit", "inherit"] });
  if (cc.status !== 0) console.warn(`esbuild.mjs: the addon shim was not built (${cc.error?.message ?? `exit ${cc.status}`}): decoding on the CPU will be slower, and prefill on Vulkan`);
}

if (watch) {
  for (const b of builds) await (await esbuild.context(b)).watch();
} else {
  await Promise.all(builds.map((b) => esbuild.build(b)));
  chmodSync(`${out}/cli.js`, 0o755);
}
