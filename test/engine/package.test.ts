// `npm run package -- --all`: one VSIX per platform, each unpacked and read back. Platform packages
// this machine did not install come from the npm registry (as CI's `npm ci` does).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdirSync, statSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { applySourcePatches, DECODE_WITHOUT_SYNC } from "../../src/engine/backend/addonPatch";
import { tempDir } from "../support/fixtures";

// The platforms node-llama-cpp 3.21.1 publishes binaries for, and the prebuilt packages each ships.
const EXPECTED: Record<string, string[]> = {
  "linux-x64": ["linux-x64", "linux-x64-vulkan"],
  "linux-arm64": ["linux-arm64"],
  "darwin-arm64": ["mac-arm64-metal"],
  "darwin-x64": ["mac-x64"],
  "win32-x64": ["win-x64", "win-x64-vulkan"],
  "win32-arm64": ["win-arm64"],
};
/** What each may weigh, compressed: the largest is the Vulkan build's 55 MB library. */
const MAX_MB = 45;

const out = tempDir("ask-vsix-");
let printed = "";
before(() => {
  printed = execFileSync(process.execPath, ["scripts/package.mjs", "--all", "--out", out.path], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"], timeout: 900_000 });
});
after(() => out.dispose());

const list = (vsix: string): string[] => execFileSync("unzip", ["-Z1", vsix], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 }).trim().split("\n");
const read = (vsix: string, path: string): string => execFileSync("unzip", ["-p", vsix, path], { encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });

for (const [target, packages] of Object.entries(EXPECTED)) {
  test(`the ${target} VSIX carries its own binaries and what runs, nothing else`, () => {
    const vsix = join(out.path, `ask-codebase-${target}.vsix`);
    const files = list(vsix);
    const mb = statSync(vsix).size / 1e6;
    assert.match(printed, new RegExp(`^${target}\\s+${mb.toFixed(1)} MB\\s+${files.length} files`, "m"), "the script prints each VSIX's size and file count");
    assert.ok(mb < MAX_MB, `${target}: ${mb.toFixed(1)} MB`);
    assert.match(read(vsix, "extension.vsixmanifest"), new RegExp(`TargetPlatform="${target}"`));
    for (const f of ["dist/extension.js", "dist/engineHost.js", "dist/gpuProbe.js", "dist/tokenizerWorker.js", "dist/media/webview.js", "dist/media/webview.css", "node_modules/node-llama-cpp/dist/index.js", "media/icon.png"]) {
      assert.ok(files.includes(`extension/${f}`), `${target} lacks ${f}`);
    }
    // The addon shim is compiled for the packaging machine alone (esbuild.mjs): that target's VSIX
    // carries it, and no other carries a shim built for another platform.
    const shims = files.filter((f) => f.startsWith("extension/dist/addon-shim-"));
    assert.deepEqual(shims, process.platform === "linux" && target === `linux-${process.arch}` ? [`extension/dist/addon-shim-${target}.so`] : [], `${target}'s addon shim`);
    const shipped = new Set(files.map((f) => /^extension\/node_modules\/@node-llama-cpp\/([^/]+)\//.exec(f)?.[1]).filter(Boolean));
    assert.deepEqual([...shipped].sort(), [...packages].sort(), `${target}'s prebuilt packages`);
    for (const p of packages) {
      assert.ok(files.some((f) => f.startsWith(`extension/node_modules/@node-llama-cpp/${p}/bins/`) && f.endsWith("llama-addon.node")), `${p} has its addon`);
    }
    // The CUDA build from source compiles the addon from the extension's own copy, with one change.
    const addon = join(out.path, target, DECODE_WITHOUT_SYNC.file);
    mkdirSync(join(addon, ".."), { recursive: true });
    writeFileSync(addon, read(vsix, `extension/node_modules/node-llama-cpp/${DECODE_WITHOUT_SYNC.file.replaceAll("\\", "/")}`));
    assert.deepEqual(applySourcePatches(join(out.path, target)).applied, [DECODE_WITHOUT_SYNC.name], `${target}: the build's change applies to the shipped source`);
    const unwanted = files.filter((f) => /^extension\/(src|test|bench|scripts|webview)\/|\/node_modules\/typescript\/|\.map$|\.d\.ts$|^extension\/dist\/cli\.js$|\/llama\/llama\.cpp\/|gitRelease\.bundle$/.test(f));
    assert.deepEqual(unwanted, [], `${target} ships what nothing runs`);
    const manifest = JSON.parse(read(vsix, "extension/package.json")) as { devDependencies?: unknown; scripts?: unknown; bin?: unknown; icon?: string; repository?: unknown };
    assert.equal(manifest.devDependencies, undefined);
    assert.equal(manifest.bin, undefined, "the CLI is not part of the extension");
    assert.equal(manifest.icon, "media/icon.png");
    assert.ok(manifest.repository);
  });
}
