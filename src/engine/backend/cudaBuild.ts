// Building the CUDA backend from source, offered once where it would help: a machine with an
// NVIDIA GPU and the CUDA toolkit, where no CUDA build of node-llama-cpp runs (no VSIX carries
// its 540 MB CUDA prebuilt, and that prebuilt's kernels abort on drivers older than its toolchain).
// The build is node-llama-cpp's own (`source download --gpu cuda`); it writes into its package's
// llama/localBuilds, which an extension update replaces, so the result is also kept in our
// storage and put back before a backend is chosen.
import { spawn } from "node:child_process";
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir } from "node:os";
import { createRequire } from "node:module";
import { delimiter, dirname, join } from "node:path";
import { nodeLlamaCppDir, nodeLlamaCppVersion, type BackendMemory, type BackendVerdict } from "./backendChoice";
import type { BuildProgress, BuildResult, CudaOffer } from "../../shared/engineProtocol";
import { findCudaTools, nvidiaGpus, onPath, type CudaTools } from "./cudaTools";
import { applySourcePatches } from "./addonPatch";

export type { BuildProgress };

/** What happened to the offer on this machine; kept beside the backends' verdicts. */
export interface CudaBuildState {
  offeredAt?: string;
  answer?: "build" | "later" | "never";
  built?: { nlcVersion: string; at: string; seconds: number; changes?: string[] };
  failed?: { nlcVersion: string; at: string; reason: string };
}

export type Offer = CudaOffer;

export interface OfferFacts {
  platform: NodeJS.Platform;
  /** The CUDA backend's remembered verdict; the offer comes only after it was tried. */
  cuda?: BackendVerdict;
  gpus: string[];
  tools?: CudaTools;
  state: CudaBuildState;
  nlcVersion: string;
  /** What questions run on instead: "Vulkan", or "the CPU" where Vulkan did not run either. */
  runsOn: string;
}

/**
 * What stands between this machine and a CUDA build, if anything: the same facts refuse a build
 * and withhold the offer, in the same words.
 */
export function missingForBuild(platform: NodeJS.Platform, gpus: string[], tools: CudaTools | undefined): string | undefined {
  if (platform === "darwin") return "there is no CUDA on macOS: the Metal backend is used";
  if (!gpus.length) return "no NVIDIA GPU was found (nvidia-smi -L lists none): a CUDA build would have nothing to run on";
  if (!tools) return "no CUDA toolkit was found (nvcc on PATH, $CUDACXX, $CUDA_PATH or /usr/local/cuda): install it to build the CUDA backend";
  if (tools.missing.length) return `building the CUDA backend needs ${tools.missing.join(", ")} on PATH`;
  return undefined;
}

/** Why not to offer, from what is already known (CUDA's verdict, the offer's history), without looking at the machine. */
function settledAgainst(f: Omit<OfferFacts, "gpus" | "tools" | "runsOn">): string | undefined {
  if (!f.cuda) return "CUDA has not been tried on this machine yet";
  if (f.cuda.ok) return "CUDA already runs here";
  if (f.state.built?.nlcVersion === f.nlcVersion) return "the CUDA backend was built here and did not run (see the backend's verdict)";
  if (f.state.failed?.nlcVersion === f.nlcVersion) return `building the CUDA backend failed here: ${f.state.failed.reason}`;
  if (f.state.answer === "never") return "you asked not to be asked again";
  // Once per machine; a user who chose to build is asked again when an update needs a new build.
  if (f.state.offeredAt && f.state.answer !== "build") return "it was offered once already";
  return undefined;
}

/** Whether to offer the build, and if not, why not (for the log: each "no" is a fact about this machine). */
export function cudaBuildOffer(f: OfferFacts): Offer {
  const why = settledAgainst(f) ?? missingForBuild(f.platform, f.gpus, f.tools);
  if (why) return { offer: false, why };
  // Both ruled out above: a verdict exists and failed, and the toolkit was found.
  const cuda = f.cuda!;
  const tools = f.tools!;
  const now = cuda.unavailable ? "no CUDA build of the engine is installed" : `the CUDA build failed here (${cuda.reason ?? "no reason given"})`;
  return {
    offer: true,
    message: `${f.gpus[0]} runs on ${f.runsOn}: ${now}. The CUDA toolkit${tools.version ? ` ${tools.version}` : ""} is installed, so the CUDA backend can be built from source for this machine, once (several minutes).`,
  };
}

/** One file of offer state per machine; unreadable counts as never offered. */
export class CudaBuildMemory {
  constructor(readonly file: string) {}

  get(): CudaBuildState {
    try {
      return JSON.parse(readFileSync(this.file, "utf8")) as CudaBuildState;
    } catch {
      return {};
    }
  }

  update(change: Partial<CudaBuildState>): CudaBuildState {
    const next = { ...this.get(), ...change };
    mkdirSync(dirname(this.file), { recursive: true });
    writeFileSync(this.file, JSON.stringify(next, null, 1));
    return next;
  }
}

/** The CLI's place for kept builds; the extension keeps them in its own global storage. */
export function defaultBuildStoreDir(): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "ask-codebase", "backend-builds");
}

const DONE = "buildDone.status";
const META = join("Release", "_nlcBuildMetadata.json");

/**
 * Kept builds, one folder per node-llama-cpp version, platform and arch (a build of another
 * version's llama.cpp does not fit this one's addon), each holding node-llama-cpp's build folder.
 */
export class BuildStore {
  readonly dir: string;
  constructor(root: string, readonly nlcDir = nodeLlamaCppDir(), readonly version = nodeLlamaCppVersion()) {
    this.dir = join(root, `${version}-${process.platform}-${process.arch}`);
  }

  get localBuilds(): string {
    return join(this.nlcDir, "llama", "localBuilds");
  }

  /** node-llama-cpp's finished CUDA build folders under `root` (by their metadata, as it reads them). */
  static cudaFolders(root: string): string[] {
    if (!existsSync(root)) return [];
    return readdirSync(root).filter((name) => {
      if (!existsSync(join(root, name, DONE))) return false;
      try {
        return (JSON.parse(readFileSync(join(root, name, META), "utf8")) as { buildOptions?: { gpu?: unknown } }).buildOptions?.gpu === "cuda";
      } catch {
        return false;
      }
    });
  }

  /** Copies node-llama-cpp's finished build (its Release folder and done mark, not CMake's intermediates) here. */
  keep(folder: string): void {
    copyBuild(join(this.localBuilds, folder), join(this.dir, folder));
  }

  /** Puts kept builds back where node-llama-cpp looks, if an update took them; returns those restored. */
  restore(): string[] {
    const restored: string[] = [];
    for (const folder of BuildStore.cudaFolders(this.dir)) {
      const at = join(this.localBuilds, folder);
      if (existsSync(join(at, DONE))) continue;
      copyBuild(join(this.dir, folder), at);
      restored.push(folder);
    }
    return restored;
  }
}


/** A build folder as node-llama-cpp loads one: its Release folder, then the done mark (last, so a copy cut short is not taken for done). */
function copyBuild(from: string, to: string): void {
  rmSync(to, { recursive: true, force: true });
  mkdirSync(to, { recursive: true });
  cpSync(join(from, "Release"), join(to, "Release"), { recursive: true });
  writeFileSync(join(to, DONE), "");
}

/** A progress line of the build's output, if it is one: the clone, CMake's "[ 42%]" or Ninja's "[12/345]". */
export function progressOf(line: string): BuildProgress | undefined {
  const pct = /^\[\s*(\d{1,3})%\]\s*(.*)$/.exec(line);
  if (pct) return { percent: Number(pct[1]), message: pct[2]! };
  const steps = /^\[(\d+)\/(\d+)\]\s*(.*)$/.exec(line);
  if (steps) return { percent: Math.floor((100 * Number(steps[1])) / Number(steps[2])), message: steps[3]! };
  // With $CI set, node-llama-cpp prints its spinner glyph before each stage ("◷ Cloning ...").
  if (/^\W*Cloning /.test(line)) return { message: "getting llama.cpp's source" };
  if (/Compiling llama\.cpp/.test(line)) return { message: "configuring the build" };
  return undefined;
}

/** The line that says why a build failed: CMake's error message, else the last error-like line that is not a stack frame. */
export function whyFailed(lines: string[]): string | undefined {
  const cmake = lines.findIndex((l) => /^CMake Error/.test(l));
  if (cmake >= 0) return /:\s*$/.test(lines[cmake]!) && lines[cmake + 1] ? lines[cmake + 1] : lines[cmake];
  return [...lines].reverse().find((l) => !/^at /.test(l) && /error|fatal|fail|not found|could not|cannot/i.test(l));
}

export interface BuildOptions {
  store: BuildStore;
  tools: CudaTools;
  onProgress?: (p: BuildProgress) => void;
  /** Every line of the build's output, for a log. */
  onLine?: (line: string) => void;
  signal?: AbortSignal;
  env?: NodeJS.ProcessEnv;
}

/**
 * Runs node-llama-cpp's own source build for CUDA in a process group of its own (a cancel ends
 * CMake and nvcc too), keeps the result in `store`, and drops what only the build needed (CMake's
 * intermediates, and the llama.cpp source if it fetched it). Rejects with the build's telling line.
 */
export async function buildCudaBackend(o: BuildOptions): Promise<{ folder: string; seconds: number; changes: string[] }> {
  const started = Date.now();
  const llamaDir = join(o.store.nlcDir, "llama");
  const hadSource = existsSync(join(llamaDir, "llama.cpp"));
  const env: NodeJS.ProcessEnv = { ...(o.env ?? process.env), ELECTRON_RUN_AS_NODE: "1" };
  // CMake looks for nvcc on PATH; one found elsewhere is named to it.
  if (!onPath("nvcc", env.PATH ?? env.Path ?? "")) env.CUDACXX ??= o.tools.nvcc;
  const launchers = cmakeJsLauncher(o.store);
  if (launchers) env.PATH = `${launchers}${delimiter}${env.PATH ?? env.Path ?? ""}`;
  const cli = join(o.store.nlcDir, "dist", "cli", "cli.js");
  const tail: string[] = [];
  const patched = applySourcePatches(o.store.nlcDir);
  for (const name of patched.applied) o.onProgress?.({ message: `node-llama-cpp's addon is built with one change: ${name}` });
  for (const s of patched.skipped) o.onProgress?.({ message: `node-llama-cpp's addon is built as it is, without "${s.name}": ${s.why}` });
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(process.execPath, [cli, "source", "download", "--gpu", "cuda", "--noUsageExample"], {
      cwd: o.store.nlcDir, env, stdio: ["ignore", "pipe", "pipe"], detached: process.platform !== "win32", windowsHide: true,
    });
    const onAbort = (): void => {
      try {
        if (process.platform === "win32") child.kill();
        else process.kill(-child.pid!, "SIGKILL");
      } catch {
        // Already gone.
      }
    };
    o.signal?.addEventListener("abort", onAbort, { once: true });
    let partial = "";
    let last: BuildProgress | undefined;
    const take = (d: Buffer): void => {
      const lines = (partial + d.toString()).split(/\r?\n|\r/);
      partial = lines.pop() ?? "";
      for (const raw of lines) {
        // eslint-disable-next-line no-control-regex
        const line = raw.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, "").trim();
        if (!line) continue;
        o.onLine?.(line);
        tail.push(line);
        if (tail.length > 400) tail.shift();
        const p = progressOf(line);
        // The clone prints a line per percent; the same news twice is not news.
        if (p && (p.message !== last?.message || p.percent !== last?.percent)) o.onProgress?.((last = p));
      }
    };
    child.stdout.on("data", take);
    child.stderr.on("data", take);
    child.once("error", reject);
    child.once("close", (c) => {
      o.signal?.removeEventListener("abort", onAbort);
      resolve(c);
    });
  }).finally(() => patched.restore());
  if (o.signal?.aborted) {
    cleanUp(o.store, undefined, hadSource);
    throw new DOMException("The build was cancelled", "AbortError");
  }
  const folder = BuildStore.cudaFolders(o.store.localBuilds)[0];
  if (code !== 0 || !folder) {
    const telling = whyFailed(tail) ?? tail.at(-1) ?? `exit code ${code}`;
    cleanUp(o.store, undefined, hadSource);
    throw new Error(code === 0 ? "the build finished without a CUDA build (node-llama-cpp fell back to another)" : telling.slice(0, 400));
  }
  o.store.keep(folder);
  cleanUp(o.store, folder, hadSource);
  return { folder, seconds: (Date.now() - started) / 1000, changes: patched.applied };
}

/**
 * node-llama-cpp's build runs `npm run cmake-js-llama`, which needs cmake-js on PATH as npm puts
 * node_modules/.bin there; a VSIX has no .bin folder (vsce leaves it out). Where it is missing, a
 * launcher in the store runs cmake-js with this process's Node (Electron's, as Node). Returns its folder.
 */
function cmakeJsLauncher(store: BuildStore): string | undefined {
  const modules = dirname(store.nlcDir);
  if (existsSync(join(modules, ".bin", "cmake-js")) || existsSync(join(store.nlcDir, "node_modules", ".bin", "cmake-js"))) return undefined;
  const cmakeJs = dirname(createRequire(join(store.nlcDir, "package.json")).resolve("cmake-js/package.json"));
  const dir = join(store.dir, "bin");
  mkdirSync(dir, { recursive: true });
  const bin = join(cmakeJs, "bin", "cmake-js");
  if (process.platform === "win32") writeFileSync(join(dir, "cmake-js.cmd"), `@"${process.execPath}" "${bin}" %*\r\n`);
  else writeFileSync(join(dir, "cmake-js"), `#!/bin/sh\nexec "${process.execPath}" "${bin}" "$@"\n`, { mode: 0o755 });
  return dir;
}

/** What the build left that running does not need: CMake's files beside Release, and the fetched source. */
function cleanUp(store: BuildStore, folder: string | undefined, hadSource: boolean): void {
  if (folder) {
    const at = join(store.localBuilds, folder);
    for (const name of readdirSync(at)) if (name !== "Release" && name !== DONE) rmSync(join(at, name), { recursive: true, force: true });
  }
  // A build that failed or was cancelled leaves its CMake folder unfinished (no done mark): nothing loads it.
  if (existsSync(store.localBuilds)) {
    for (const name of readdirSync(store.localBuilds)) {
      if (/cuda/.test(name) && !existsSync(join(store.localBuilds, name, DONE))) rmSync(join(store.localBuilds, name), { recursive: true, force: true });
    }
  }
  if (!hadSource) rmSync(join(store.nlcDir, "llama", "llama.cpp"), { recursive: true, force: true });
}

/** The offer's state, kept beside the backends' verdicts (per machine, shared by the CLI and the extension). */
export function cudaBuildMemoryBeside(backends: BackendMemory): CudaBuildMemory {
  return new CudaBuildMemory(join(dirname(backends.file), "cuda-build.json"));
}

/**
 * The offer for this machine as it is now. Looks for a GPU and a toolkit only when CUDA was
 * tried and did not run: a question on a working backend costs no nvidia-smi or nvcc call.
 */
export async function offerHere(backends: BackendMemory, memory: CudaBuildMemory, env: NodeJS.ProcessEnv = process.env): Promise<Offer> {
  const facts = { platform: process.platform, cuda: backends.get("cuda"), state: memory.get(), nlcVersion: nodeLlamaCppVersion() };
  const settled = settledAgainst(facts);
  if (settled) return { offer: false, why: settled };
  const [gpus, tools] = await Promise.all([nvidiaGpus(env), findCudaTools(env)]);
  const runsOn = backends.get("vulkan")?.ok ? "Vulkan" : "the CPU";
  return cudaBuildOffer({ ...facts, gpus, runsOn, ...(tools ? { tools } : {}) });
}

/** The offer as the CLI prints it and the extension shows it: one made is recorded, so it is made once. */
export async function offerOnce(backends: BackendMemory): Promise<Offer> {
  const memory = cudaBuildMemoryBeside(backends);
  const offer = await offerHere(backends, memory);
  if (offer.offer) memory.update({ offeredAt: new Date().toISOString() });
  return offer;
}

/** A build that cannot start here, with what is missing (a usage error, not a failure). */
export class BuildRefused extends Error {
  override name = "BuildRefused";
}

/**
 * The build as a user starts it, from the CLI or the extension (through the engine's process):
 * refused with what is missing, else built and kept in `storeDir`, and remembered (the offer is
 * not made again, and CUDA is probed afresh by the next question).
 */
export async function buildHere(backends: BackendMemory, storeDir: string, hooks: Pick<BuildOptions, "onProgress" | "onLine" | "signal"> = {}): Promise<BuildResult> {
  const [gpus, tools] = await Promise.all([nvidiaGpus(), findCudaTools()]);
  const missing = missingForBuild(process.platform, gpus, tools);
  if (missing) throw new BuildRefused(missing);
  const store = new BuildStore(storeDir);
  const memory = cudaBuildMemoryBeside(backends);
  hooks.onProgress?.({ message: `building for ${gpus[0]} with CUDA ${tools!.version ?? "(version unknown)"} (${tools!.nvcc})` });
  try {
    const built = await buildCudaBackend({ store, tools: tools!, ...hooks });
    memory.update({ answer: "build", built: { nlcVersion: store.version, at: new Date().toISOString(), seconds: built.seconds, changes: built.changes } });
    backends.forget("cuda");
    return { seconds: built.seconds, dir: store.dir, changes: built.changes };
  } catch (err) {
    if (!hooks.signal?.aborted) memory.update({ failed: { nlcVersion: store.version, at: new Date().toISOString(), reason: (err as Error).message } });
    throw err;
  }
}
