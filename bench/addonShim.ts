// The benchmarks load the engine in their own process, while the product's engine process runs with
// the addon shim preloaded (src/shared/addonShim.ts). This runs the benchmark again with it
// preloaded, so that its figures are the product's; ASK_CODEBASE_ADDON_SHIM=off measures without.
// It also says when node-llama-cpp's per-decode token copy is kept (engine/llama/tokensInPlace.ts).
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { availableParallelism } from "node:os";
import { addonShimLoaded, settleAddonShim, withAddonShim } from "../src/shared/addonShim";
import { tokensInPlaceWanted } from "../src/engine/llama/tokensInPlace";

export function runWithAddonShim(): void {
  // Said once, by the first process: a run started again below inherits its stderr.
  if (!tokensInPlaceWanted() && !process.env.ASK_CODEBASE_ADDON_SHIM_RELAUNCHED) console.error("bench: node-llama-cpp copies every token read on each decode (ASK_CODEBASE_TOKENS_IN_PLACE=off)");
  if (process.platform !== "linux" || process.env.ASK_CODEBASE_ADDON_SHIM === "off") return;
  if (addonShimLoaded()) {
    // Loaded here, as in the engine's process (engine/host.ts): llama-bench, started for the
    // reference rows, runs as it is.
    console.error(`bench: with the addon shim (${settleAddonShim(process.env, availableParallelism())})`);
    return;
  }
  // Once: ld.so ignores a preload it cannot load, and the second run must not start a third.
  if (process.env.ASK_CODEBASE_ADDON_SHIM_RELAUNCHED) {
    console.error("bench: the addon shim would not preload (see ld.so's message above): figures without it");
    return;
  }
  const env = withAddonShim({ ...process.env, ASK_CODEBASE_ADDON_SHIM_RELAUNCHED: "1" }, resolve("dist"));
  if (env.LD_PRELOAD === process.env.LD_PRELOAD) {
    console.error("bench: no addon shim in dist/ (npm run build compiles it): figures without it");
    return;
  }
  const run = spawnSync(process.execPath, [...process.execArgv, ...process.argv.slice(1)], { stdio: "inherit", env });
  process.exit(run.status ?? 1);
}
