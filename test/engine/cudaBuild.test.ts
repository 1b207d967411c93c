// node-llama-cpp's own CUDA source build, run for real in a copy of its package (so this checkout's
// stays as it is). This machine has no NVIDIA GPU, so the build must fail there and say why, and
// leave nothing behind; the build that succeeds is run on the H200 (README, "CUDA from source").
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, symlinkSync } from "node:fs";
import { join, resolve } from "node:path";
import { EngineClient, EngineRequestError } from "../../src/client/engineClient";
import { BackendMemory } from "../../src/engine/backend/backendChoice";
import { BuildStore, buildCudaBackend } from "../../src/engine/backend/cudaBuild";
import { DECODE_WITHOUT_SYNC } from "../../src/engine/backend/addonPatch";
import { nvidiaGpus } from "../../src/engine/backend/cudaTools";
import { tempDir } from "../support/fixtures";

const dir = tempDir();
const cacheHome = tempDir();
let nlc: string;
let hasGpu = false;

/** node-llama-cpp copied as an extension carries it (no node_modules/.bin), its dependencies linked. */
before(async () => {
  hasGpu = (await nvidiaGpus()).length > 0;
  const modules = join(dir.path, "ext", "node_modules");
  mkdirSync(modules, { recursive: true });
  const real = resolve("node_modules/node-llama-cpp");
  nlc = join(modules, "node-llama-cpp");
  cpSync(real, nlc, { recursive: true, filter: (src) => !/[\\/]llama[\\/](llama\.cpp|localBuilds|gitRelease\.bundle)$/.test(src) });
  // The llama.cpp source, as a git bundle (34 MB): linked, not copied.
  symlinkSync(join(real, "llama", "gitRelease.bundle"), join(nlc, "llama", "gitRelease.bundle"));
  for (const name of readdirSync("node_modules")) {
    if (name !== "node-llama-cpp" && name !== ".bin") symlinkSync(resolve("node_modules", name), join(modules, name));
  }
});
after(() => {
  dir.dispose();
  cacheHome.dispose();
});

const tools = { nvcc: "nvcc", missing: [] };

test("without an NVIDIA GPU the real build fails with CMake's reason and leaves nothing behind", { skip: process.platform !== "linux" }, async (t) => {
  if (hasGpu) return t.skip("this machine has an NVIDIA GPU: the build would succeed");
  const store = new BuildStore(join(dir.path, "storage"), nlc, "3.21.1");
  const lines: string[] = [];
  const progress: string[] = [];
  const addon = join(nlc, DECODE_WITHOUT_SYNC.file);
  const shipped = readFileSync(addon, "utf8");
  let whileCMakeRan: string | undefined;
  const onLine = (l: string): void => {
    lines.push(l);
    if (/^-- /.test(l)) whileCMakeRan ??= readFileSync(addon, "utf8");
  };
  await assert.rejects(
    buildCudaBackend({ store, tools, onLine, onProgress: (p) => progress.push(p.message) }),
    (err: Error) => {
      // With nvcc: "CUDA_ARCHITECTURES is set to "native", but no GPU was detected."; without: CMake cannot find the toolkit.
      assert.match(err.message, /GPU|CUDA|cuda|nvcc/);
      assert.doesNotMatch(err.message, /^at /, "the reason, not a stack frame");
      return true;
    },
  );
  assert.ok(lines.some((l) => /^-- /.test(l)), "CMake ran (cmake-js found through the launcher, as in a VSIX)");
  assert.ok(progress.includes("getting llama.cpp's source"), "the clone was reported");
  assert.ok(progress.includes(`node-llama-cpp's addon is built with one change: ${DECODE_WITHOUT_SYNC.name}`), progress.join("\n"));
  assert.ok(whileCMakeRan?.includes(DECODE_WITHOUT_SYNC.replace), "CMake compiled the changed source");
  assert.equal(readFileSync(addon, "utf8"), shipped, "node-llama-cpp's source is as it shipped once the build is over");
  assert.deepEqual(BuildStore.cudaFolders(store.dir), [], "nothing kept");
  assert.equal(existsSync(join(nlc, "llama", "llama.cpp")), false, "the fetched source is removed");
  const left = existsSync(store.localBuilds) ? readdirSync(store.localBuilds).filter((n) => /cuda/.test(n)) : [];
  assert.deepEqual(left, [], "no unfinished CUDA build folder");
});

test("a cancel during the build ends it and its children, and removes what it fetched", { skip: process.platform !== "linux" }, async () => {
  const store = new BuildStore(join(dir.path, "storage"), nlc, "3.21.1");
  const controller = new AbortController();
  const started = Date.now();
  await assert.rejects(
    buildCudaBackend({ store, tools, signal: controller.signal, onProgress: (p) => { if (p.message === "getting llama.cpp's source") controller.abort(); } }),
    { name: "AbortError" },
  );
  assert.ok(Date.now() - started < 60_000);
  // A child left running would go on writing the source folder that was removed.
  await new Promise((r) => setTimeout(r, 3000));
  const ps = spawnSync("ps", ["-eo", "args"], { encoding: "utf8" }).stdout;
  assert.equal(ps.split("\n").filter((l) => l.includes(dir.path)).length, 0, "no process of the build is left");
  assert.equal(existsSync(join(nlc, "llama", "llama.cpp")), false);
  assert.equal(readFileSync(join(nlc, DECODE_WITHOUT_SYNC.file), "utf8"), readFileSync(resolve("node_modules/node-llama-cpp", DECODE_WITHOUT_SYNC.file), "utf8"), "the source is put back after a cancel");
});

test("ask-codebase build-cuda on a machine without an NVIDIA GPU refuses in one line and starts nothing", { skip: process.platform !== "linux" }, (t) => {
  if (hasGpu) return t.skip("this machine has an NVIDIA GPU");
  const r = spawnSync(process.execPath, [resolve("dist/cli.js"), "build-cuda"], { encoding: "utf8", env: { ...process.env, XDG_CACHE_HOME: cacheHome.path } });
  assert.equal(r.status, 2);
  assert.equal(r.stderr, "ask-codebase: no NVIDIA GPU was found (nvidia-smi -L lists none): a CUDA build would have nothing to run on\n");
  assert.equal(existsSync(join(cacheHome.path, "ask-codebase", "backend-builds")), false);
});

test("through the engine's process, as the extension asks: no offer without a GPU, and a build refused with why", { skip: process.platform !== "linux" }, async (t) => {
  if (hasGpu) return t.skip("this machine has an NVIDIA GPU");
  const home = join(cacheHome.path, "engine");
  const client = new EngineClient({ script: resolve("dist/engineHost.js"), env: { ...process.env, XDG_CACHE_HOME: home }, onEvent: () => undefined });
  try {
    assert.deepEqual(await client.cudaOffer(), { offer: false, why: "CUDA has not been tried on this machine yet" });
    // CUDA tried and failed here (as the probe records it): now the GPU is what is missing.
    new BackendMemory(join(home, "ask-codebase", "backends.json")).set("cuda", { ok: false, unavailable: true, reason: "NoBinaryFound", at: new Date().toISOString() });
    assert.deepEqual(await client.cudaOffer(), { offer: false, why: "no NVIDIA GPU was found (nvidia-smi -L lists none): a CUDA build would have nothing to run on" });
    const progress: string[] = [];
    await assert.rejects(client.buildCuda(join(home, "store"), { onProgress: (p) => progress.push(p.message) }), (err: unknown) => {
      assert.ok(err instanceof EngineRequestError);
      assert.deepEqual(err.failure, { kind: "input", message: "no NVIDIA GPU was found (nvidia-smi -L lists none): a CUDA build would have nothing to run on" });
      return true;
    });
    assert.deepEqual(progress, [], "nothing started");
    assert.equal(existsSync(join(home, "ask-codebase", "cuda-build.json")), false, "nothing offered or failed is recorded");
  } finally {
    await client.dispose();
  }
});
