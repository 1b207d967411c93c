// The CUDA build offer's decisions, its build output's reading, and keeping built backends across
// an update that replaces node-llama-cpp's folder. Real files, real tool lookup on this machine.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { BackendMemory } from "../../src/engine/backend/backendChoice";
import { BuildStore, CudaBuildMemory, cudaBuildOffer, offerHere, progressOf, whyFailed, type OfferFacts } from "../../src/engine/backend/cudaBuild";
import { findCudaTools, nvidiaGpus, onPath, parseNvccVersion } from "../../src/engine/backend/cudaTools";
import { tempDir } from "../support/fixtures";

const dir = tempDir();
after(() => dir.dispose());

const failed = { ok: false, reason: "CUDA error: the provided PTX was compiled with an unsupported toolchain", at: "2026-12-01T00:00:00Z" };
const qualifies: OfferFacts = {
  platform: "linux", cuda: failed, gpus: ["NVIDIA H200"], tools: { nvcc: "/usr/local/cuda/bin/nvcc", version: "13.0", missing: [] }, state: {}, nlcVersion: "3.21.1", runsOn: "Vulkan",
};

test("the build is offered where CUDA failed, an NVIDIA GPU and the toolkit are here, and it was never offered", () => {
  const offer = cudaBuildOffer(qualifies);
  assert.ok(offer.offer);
  assert.match(offer.message, /^NVIDIA H200 runs on Vulkan: the CUDA build failed here \(CUDA error: the provided PTX.*\)\. The CUDA toolkit 13\.0 is installed/);
  const absent = cudaBuildOffer({ ...qualifies, cuda: { ok: false, unavailable: true, reason: "NoBinaryFound", at: "x" } });
  assert.ok(absent.offer);
  assert.match(absent.message, /no CUDA build of the engine is installed/);
  const onCpu = cudaBuildOffer({ ...qualifies, runsOn: "the CPU" });
  assert.ok(onCpu.offer);
  assert.match(onCpu.message, /^NVIDIA H200 runs on the CPU: /, "where Vulkan did not run either");
});

test("each missing condition withholds the offer and says which", () => {
  const cases: [Partial<OfferFacts>, RegExp][] = [
    [{ platform: "darwin" }, /no CUDA on macOS/],
    [{ cuda: undefined }, /not been tried/],
    [{ cuda: { ok: true, at: "x" } }, /already runs/],
    [{ gpus: [] }, /no NVIDIA GPU/],
    [{ tools: undefined }, /no CUDA toolkit/],
    [{ tools: { nvcc: "nvcc", missing: ["git", "npm"] } }, /needs git, npm on PATH/],
    [{ state: { built: { nlcVersion: "3.21.1", at: "x", seconds: 300 } } }, /was built here and did not run/],
    [{ state: { failed: { nlcVersion: "3.21.1", at: "x", reason: "nvcc fatal" } } }, /failed here: nvcc fatal/],
    [{ state: { offeredAt: "x", answer: "never" } }, /not to be asked again/],
    [{ state: { offeredAt: "x", answer: "later" } }, /offered once already/],
    [{ state: { offeredAt: "x" } }, /offered once already/],
  ];
  for (const [change, why] of cases) {
    const offer = cudaBuildOffer({ ...qualifies, ...change } as OfferFacts);
    assert.equal(offer.offer, false, JSON.stringify(change));
    assert.match((offer as { why: string }).why, why);
  }
});

test("a user who built once is offered a new build when an update brings another node-llama-cpp", () => {
  const state = { offeredAt: "x", answer: "build" as const, built: { nlcVersion: "3.20.0", at: "x", seconds: 280 } };
  assert.ok(cudaBuildOffer({ ...qualifies, state }).offer);
  assert.equal(cudaBuildOffer({ ...qualifies, state: { ...state, failed: { nlcVersion: "3.20.0", at: "x", reason: "r" } } }).offer, true, "an old version's failure does not count");
});

test("the offer's state survives on disk, and an unreadable file counts as never offered", () => {
  const memory = new CudaBuildMemory(join(dir.path, "state", "cuda-build.json"));
  assert.deepEqual(memory.get(), {});
  memory.update({ offeredAt: "2026-12-03T00:00:00Z" });
  memory.update({ answer: "later" });
  assert.deepEqual(new CudaBuildMemory(memory.file).get(), { offeredAt: "2026-12-03T00:00:00Z", answer: "later" });
  writeFileSync(memory.file, "{not json");
  assert.deepEqual(memory.get(), {});
});

test("on this machine, a failed CUDA verdict brings no offer unless an NVIDIA GPU and the toolkit are both here", async () => {
  const backends = new BackendMemory(join(dir.path, "here", "backends.json"));
  const memory = new CudaBuildMemory(join(dir.path, "here", "cuda-build.json"));
  assert.deepEqual(await offerHere(backends, memory), { offer: false, why: "CUDA has not been tried on this machine yet" }, "nothing is looked for before CUDA was tried");
  backends.set("cuda", failed);
  const [gpus, tools] = await Promise.all([nvidiaGpus(), findCudaTools()]);
  const offer = await offerHere(backends, memory);
  assert.equal(offer.offer, gpus.length > 0 && !!tools && tools.missing.length === 0);
  if (!gpus.length) assert.deepEqual(offer, { offer: false, why: "no NVIDIA GPU was found (nvidia-smi -L lists none): a CUDA build would have nothing to run on" });
  assert.deepEqual(memory.get(), {}, "looking records nothing");
  // Without a toolkit anywhere it looks, there is nothing to build with.
  assert.equal(await findCudaTools({ PATH: join(dir.path, "empty") }, []), undefined);
});

test("the toolkit is found as CMake would find it, with its version and what else the build needs", async (t) => {
  assert.equal(parseNvccVersion("nvcc: NVIDIA (R) Cuda compiler driver\nCuda compilation tools, release 12.4, V12.4.131\n"), "12.4");
  assert.equal(parseNvccVersion("something else"), undefined);
  const nvcc = onPath("nvcc");
  if (!nvcc) return t.skip("no nvcc on this machine");
  const tools = await findCudaTools();
  assert.equal(tools?.nvcc, nvcc);
  assert.match(tools?.version ?? "", /^\d+\.\d+$/);
  const bare = await findCudaTools({ PATH: join(dir.path, "empty"), CUDACXX: nvcc }, []);
  assert.deepEqual(bare?.missing, ["git", "npm", "a C++ compiler"], "named by CUDACXX, with nothing else on PATH");
});

test("the build's output is read for progress and for the line that says why it failed", () => {
  assert.deepEqual(progressOf("[ 42%] Building CUDA object ggml/src/ggml-cuda/mmq.cu.o"), { percent: 42, message: "Building CUDA object ggml/src/ggml-cuda/mmq.cu.o" });
  assert.deepEqual(progressOf("[12/400] Building CXX object src/llama.cpp.o"), { percent: 3, message: "Building CXX object src/llama.cpp.o" });
  assert.deepEqual(progressOf("Cloning ggml-org/llama.cpp (local bundle)   45%"), { message: "getting llama.cpp's source" });
  assert.deepEqual(progressOf("◷ Cloning ggml-org/llama.cpp (local bundle) 10%"), { message: "getting llama.cpp's source" }, "as printed with $CI set");
  assert.equal(progressOf("-- Detecting C compiler ABI info"), undefined);
  assert.equal(whyFailed(["-- Configuring done", "CMake Error in llama.cpp/ggml/src/ggml-cuda/CMakeLists.txt:", "CUDA_ARCHITECTURES is set to \"native\", but no GPU was detected.", "SpawnError: Command npm run exited with code 1", "at createError (spawnCommand.js:34:20)"]),
    "CUDA_ARCHITECTURES is set to \"native\", but no GPU was detected.");
  assert.equal(whyFailed(["nvcc fatal : Unsupported gpu architecture 'compute_120'", "at foo (x.js:1:1)"]), "nvcc fatal : Unsupported gpu architecture 'compute_120'");
});

/** A node-llama-cpp folder with a finished build as its source build leaves one. */
function fakePackageWithBuild(root: string, folder: string, gpu: string | false): void {
  const at = join(root, "llama", "localBuilds", folder);
  mkdirSync(join(at, "Release"), { recursive: true });
  mkdirSync(join(at, "CMakeFiles"), { recursive: true });
  writeFileSync(join(at, "Release", "llama-addon.node"), "addon");
  writeFileSync(join(at, "Release", "libggml-cuda.so"), "kernels");
  writeFileSync(join(at, "Release", "_nlcBuildMetadata.json"), JSON.stringify({ buildOptions: { gpu } }));
  writeFileSync(join(at, "buildDone.status"), "");
}

test("a finished CUDA build is kept in the store and put back after an update took node-llama-cpp's folder", () => {
  const nlc = join(dir.path, "ext-1", "node_modules", "node-llama-cpp");
  fakePackageWithBuild(nlc, "linux-x64-cuda", "cuda");
  fakePackageWithBuild(nlc, "linux-x64", false);
  assert.deepEqual(BuildStore.cudaFolders(join(nlc, "llama", "localBuilds")), ["linux-x64-cuda"], "only CUDA builds, by their metadata");
  const store = new BuildStore(join(dir.path, "storage"), nlc, "3.21.1");
  store.keep("linux-x64-cuda");
  assert.ok(store.dir.endsWith(`3.21.1-${process.platform}-${process.arch}`));
  assert.equal(readFileSync(join(store.dir, "linux-x64-cuda", "Release", "libggml-cuda.so"), "utf8"), "kernels");
  assert.equal(existsSync(join(store.dir, "linux-x64-cuda", "CMakeFiles")), false, "CMake's intermediates are not kept");
  assert.deepEqual(store.restore(), [], "nothing to put back while the build is in place");
  // The update: a fresh extension folder with the same node-llama-cpp and no local builds.
  const updated = join(dir.path, "ext-2", "node_modules", "node-llama-cpp");
  mkdirSync(updated, { recursive: true });
  const after = new BuildStore(join(dir.path, "storage"), updated, "3.21.1");
  assert.deepEqual(after.restore(), ["linux-x64-cuda"]);
  assert.equal(readFileSync(join(updated, "llama", "localBuilds", "linux-x64-cuda", "Release", "llama-addon.node"), "utf8"), "addon");
  assert.ok(existsSync(join(updated, "llama", "localBuilds", "linux-x64-cuda", "buildDone.status")), "done, as node-llama-cpp checks");
  assert.deepEqual(new BuildStore(join(dir.path, "storage"), updated, "3.22.0").restore(), [], "another version's build is not put back");
  rmSync(join(updated, "llama", "localBuilds", "linux-x64-cuda", "buildDone.status"));
  assert.deepEqual(after.restore(), ["linux-x64-cuda"], "an unfinished folder is replaced");
});
