// Where the addon shim (engine/backend/addonShim.c: a lasting CPU thread pool per context, no
// synchronize after each decode, and greedy samples read as one candidate) is, and how the engine's
// process gets it: preloaded, since node-llama-cpp's prebuilt addon and its JavaScript API offer
// none of them. Linux only (LD_PRELOAD); the build compiles it beside the engine's script
// (esbuild.mjs) where a C compiler is, and without it the engine runs as before, only slower.
// ASK_CODEBASE_ADDON_SHIM=off leaves it out.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";

/** The file name the build gives the shim for a platform and architecture. */
export function addonShimName(platform: string = process.platform, arch: string = process.arch): string {
  return `addon-shim-${platform}-${arch}.so`;
}

/** The shim in `dir` (the engine script's folder) for this machine, if it is there and wanted. */
export function addonShimPath(dir: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  if (process.platform !== "linux" || env.ASK_CODEBASE_ADDON_SHIM === "off") return undefined;
  const path = join(dir, addonShimName());
  return existsSync(path) ? path : undefined;
}

/**
 * `env` with the shim preloaded, ahead of whatever the user preloads. ld.so splits LD_PRELOAD at
 * spaces and colons, so a path holding either cannot be preloaded: left out rather than mangled.
 */
export function withAddonShim(env: NodeJS.ProcessEnv, dir: string): NodeJS.ProcessEnv {
  const shim = addonShimPath(dir, env);
  if (!shim || /[\s:]/.test(shim)) return env;
  const already = env.LD_PRELOAD?.trim();
  if (already?.split(/[\s:]+/).includes(shim)) return env;
  return { ...env, LD_PRELOAD: already ? `${shim} ${already}` : shim };
}

/**
 * `LD_PRELOAD` without the shim: the engine's process keeps it loaded, and what it starts (git,
 * llama-server, a CUDA build's compilers, its tokenizer and probe processes) is not given it.
 */
export function withoutAddonShim(preload: string | undefined): string | undefined {
  const rest = (preload ?? "").split(/[\s:]+/).filter((p) => p && !/(^|\/)addon-shim-[^/]*\.so$/.test(p));
  return rest.length ? rest.join(" ") : undefined;
}

/**
 * What the shim changes unless the user says (ASK_CODEBASE_ADDON_SHIM): every change on up to 4
 * cores, all but the thread pool beyond. The pool was measured a win on 2 cores (0.5b model,
 * 26.3 -> 23.0 ms a token) and not on the H200 machine's 16 (no gain at depth 0, slower at 1,024):
 * there it waits for figures that show it helps. Skipping the synchronize and the greedy sample's
 * one candidate helped everywhere. Sharing cells (sharedCells.c) only where forked margins are
 * asked for (forksWanted, below, says why they are not by default): it
 * makes the addon's contexts for several sequences differently.
 */
export function addonShimMode(env: NodeJS.ProcessEnv, cores: number): string {
  const chosen = env.ASK_CODEBASE_ADDON_SHIM?.trim();
  if (chosen) return chosen;
  const mode = cores <= 4 ? "pool,nosync,greedy" : "nosync,greedy";
  return forksWanted(env) ? `${mode},share` : mode;
}

/**
 * Whether a warm question's margins go on forks of the reader (core/wim/forkedMargins.ts): only
 * where ASK_CODEBASE_FORKS=on asks. They won nothing anywhere they were measured: on an H100 with
 * CUDA the warm second question took 0.61 s either way (the state loaded once, not twice, saved
 * 0.13 s, and four forks' margins side by side cost 0.11 s more than one after another on the
 * reader); on a 2-core CPU 4.10 s against 4.21 s (bench/runs/h100-forks-warm.txt,
 * cpu-forks-warm.txt). And on Vulkan (the same H100) every forked run died of a corrupted heap or
 * hung at its first forked question, right after its first shares.
 */
export function forksWanted(env: NodeJS.ProcessEnv): boolean {
  return env.ASK_CODEBASE_FORKS?.trim() === "on";
}

/** Whether the shim's mode in `env` (as settleAddonShim leaves it) asks for `change`: addonShim.c's wants(). */
export function shimWants(change: string, env: NodeJS.ProcessEnv = process.env): boolean {
  const mode = env.ASK_CODEBASE_ADDON_SHIM?.trim();
  if (!mode || mode === "on") return change !== "share";
  return mode.split(",").includes(change);
}

/**
 * In a process the shim was preloaded into (the engine's, or a benchmark's): what it starts is not
 * given it, and the shim reads its mode (addonShimMode) from this environment when a context
 * first decodes. Returns the mode.
 */
export function settleAddonShim(env: NodeJS.ProcessEnv, cores: number): string {
  const preload = withoutAddonShim(env.LD_PRELOAD);
  if (preload) env.LD_PRELOAD = preload;
  else delete env.LD_PRELOAD;
  return (env.ASK_CODEBASE_ADDON_SHIM = addonShimMode(env, cores));
}

/** Whether this process runs with the shim (ld.so ignores a preload it cannot load, with a warning only). */
export function addonShimLoaded(): boolean {
  if (process.platform !== "linux") return false;
  try {
    return /\/addon-shim-[^/\s]+\.so$/m.test(readFileSync("/proc/self/maps", "utf8"));
  } catch {
    return false;
  }
}
