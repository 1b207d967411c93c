// npm run package -- [--target T ...] [--all] [--out DIR]
// One VSIX per platform that node-llama-cpp 3.21.1 publishes binaries for, each carrying only its
// own: the production bundles (no CLI, no source maps), node-llama-cpp and its run-time
// dependencies, and that platform's prebuilt packages. Platform packages this machine did not
// install come from the npm registry (`npm pack`, kept in a cache folder). Packaging needs vsce (a
// devDependency) and no browser. Prints each VSIX's size and file count.
//
// CUDA is not in any VSIX: its packages are ~540 MB, and their kernels abort on drivers older than
// the toolchain they were built with (seen on the H200's driver 580). NVIDIA users get Vulkan,
// which node-llama-cpp ships for linux-x64 and win32-x64; see the README.
import { execFileSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "..");

/** VS Code's platform targets, and node-llama-cpp's prebuilt packages for each. */
export const TARGETS = {
  "linux-x64": ["linux-x64", "linux-x64-vulkan"],
  "linux-arm64": ["linux-arm64"],
  "darwin-arm64": ["mac-arm64-metal"],
  "darwin-x64": ["mac-x64"],
  "win32-x64": ["win-x64", "win-x64-vulkan"],
  "win32-arm64": ["win-arm64"],
};

/**
 * Paths inside a run-time package that nothing loads: sources, docs, other tools' files. The addon's
 * CMake project (llama/addon, cmake, patches, profiles: ~0.4 MB) stays: "Build the CUDA Backend from
 * Source" runs node-llama-cpp's own source build, which fetches llama.cpp but not these.
 */
const DROP = [/^node-llama-cpp\/llama\/(llama\.cpp|gitRelease\.bundle)(\/|$)/, /^node-llama-cpp\/templates(\/|$)/, /\.(md|markdown|map|ts|cts|mts)$/i, /(^|\/)(docs?|test|tests|__tests__|\.github)(\/|$)/];

function here() {
  const arch = process.arch === "arm64" ? "arm64" : "x64";
  return `${process.platform}-${arch}`;
}

function main() {
  const { values } = parseArgs({ options: { target: { type: "string", multiple: true }, all: { type: "boolean" }, out: { type: "string", default: "." } } });
  const targets = values.all ? Object.keys(TARGETS) : values.target ?? [here()];
  for (const t of targets) if (!TARGETS[t]) throw new Error(`unknown target ${t}: one of ${Object.keys(TARGETS).join(", ")}`);
  const out = resolve(values.out);
  mkdirSync(out, { recursive: true });
  const built = mkdtempSync(join(tmpdir(), "ask-codebase-dist-"));
  try {
    execFileSync(process.execPath, ["esbuild.mjs", "--production", "--outdir", built], { cwd: root, stdio: "inherit" });
    packageAll(targets, out, built);
  } finally {
    rmSync(built, { recursive: true, force: true });
  }
}

function packageAll(targets, out, built) {
  const runtime = runtimePackages();
  const nlcVersion = JSON.parse(readFileSync(join(root, "node_modules/node-llama-cpp/package.json"), "utf8")).version;
  for (const target of targets) {
    const stage = mkdtempSync(join(tmpdir(), `ask-codebase-${target}-`));
    try {
      stageCommon(stage, runtime, built, target);
      for (const name of TARGETS[target]) stagePlatformPackage(stage, name, nlcVersion);
      const vsix = join(out, `ask-codebase-${target}.vsix`);
      execFileSync(join(root, "node_modules/.bin/vsce"), ["package", "--target", target, "--no-update-package-json", "--no-rewrite-relative-links", "-o", vsix], { cwd: stage, stdio: ["ignore", "ignore", "inherit"] });
      const files = execFileSync("unzip", ["-Z1", vsix], { encoding: "utf8" }).trim().split("\n").length;
      console.log(`${target.padEnd(13)} ${(statSync(vsix).size / 1e6).toFixed(1).padStart(6)} MB  ${String(files).padStart(5)} files  ${relative(process.cwd(), vsix) || vsix}`);
    } finally {
      rmSync(stage, { recursive: true, force: true });
    }
  }
}

/** node-llama-cpp and what it needs at run time (npm's production tree), without the platform packages. */
function runtimePackages() {
  const listed = execFileSync("npm", ["ls", "--omit=dev", "--all", "--parseable"], { cwd: root, encoding: "utf8" }).trim().split("\n");
  const modules = join(root, "node_modules") + "/";
  // Optional peers (node-llama-cpp's `typescript`, 20 MB) are installed for development only.
  const nlc = JSON.parse(readFileSync(join(root, "node_modules/node-llama-cpp/package.json"), "utf8"));
  const optionalPeers = new Set(Object.entries(nlc.peerDependenciesMeta ?? {}).filter(([, m]) => m.optional).map(([n]) => n));
  const ours = JSON.parse(readFileSync(join(root, "package.json"), "utf8")).dependencies;
  return listed.filter((p) => p.startsWith(modules)).map((p) => p.slice(modules.length))
    // Our own dependencies other than node-llama-cpp are in the bundles, unless node-llama-cpp needs them too (npm ls lists those again below it).
    .filter((p) => !optionalPeers.has(p) && !p.startsWith("@node-llama-cpp/") && (p === "node-llama-cpp" || !(p in ours) || nlcNeeds(nlc, p)));
}

function nlcNeeds(nlc, name) {
  return name in (nlc.dependencies ?? {});
}

function stageCommon(stage, runtime, built, target) {
  const pkg = JSON.parse(readFileSync(join(root, "package.json"), "utf8"));
  delete pkg.devDependencies;
  delete pkg.scripts;
  // vsce asks npm which packages to ship: node-llama-cpp and its tree (the bundles carry the rest).
  pkg.dependencies = { "node-llama-cpp": pkg.dependencies["node-llama-cpp"] };
  delete pkg.bin; // the CLI is run from a checkout (README), not from the extension
  writeFileSync(join(stage, "package.json"), JSON.stringify(pkg, null, 2));
  for (const f of ["README.md", "LICENSE"]) cpSync(join(root, f), join(stage, f));
  if (pkg.icon) cpSync(join(root, pkg.icon), join(stage, pkg.icon));
  // The addon shim is compiled for the packaging machine only (esbuild.mjs): no other target's VSIX carries it.
  const otherShim = (src) => /[\\/]addon-shim-[^\\/]+\.so$/.test(src) && !src.endsWith(`addon-shim-${target}.so`);
  cpSync(built, join(stage, "dist"), { recursive: true, filter: (src) => !/(\.map|[\\/]cli\.js)$/.test(src) && !otherShim(src) });
  for (const name of runtime) {
    cpSync(join(root, "node_modules", name), join(stage, "node_modules", name), {
      recursive: true,
      filter: (src) => {
        const rel = relative(join(root, "node_modules"), src).split("\\").join("/");
        // A package's own nested node_modules are staged as packages of their own by the list.
        if (rel.startsWith(`${name}/node_modules`)) return false;
        return !DROP.some((re) => re.test(rel));
      },
    });
  }
  // Nothing here is loaded at run time: type declarations, C headers for source builds, lock files.
  writeFileSync(join(stage, ".vscodeignore"), ["**/*.map", "**/*.d.ts", "**/*.h", "**/yarn.lock", "**/package-lock.json"].join("\n") + "\n");
}

/** A prebuilt package: from node_modules where npm installed it here, else from the registry. */
function stagePlatformPackage(stage, name, version) {
  const dest = join(stage, "node_modules/@node-llama-cpp", name);
  const installed = join(root, "node_modules/@node-llama-cpp", name);
  if (existsSync(join(installed, "package.json")) && JSON.parse(readFileSync(join(installed, "package.json"), "utf8")).version === version) {
    cpSync(installed, dest, { recursive: true });
    return;
  }
  const cache = join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "ask-codebase", "npm-packs");
  mkdirSync(cache, { recursive: true });
  const tarball = join(cache, `node-llama-cpp-${name}-${version}.tgz`);
  if (!existsSync(tarball)) {
    const got = execFileSync("npm", ["pack", `@node-llama-cpp/${name}@${version}`, "--pack-destination", cache, "--silent"], { encoding: "utf8" }).trim().split("\n").pop();
    if (join(cache, got) !== tarball) renameSync(join(cache, got), tarball);
  }
  mkdirSync(dest, { recursive: true });
  execFileSync("tar", ["xzf", tarball, "-C", dest, "--strip-components=1"]);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
