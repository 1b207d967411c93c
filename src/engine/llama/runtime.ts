// One place that creates the node-llama-cpp runtime with the options this project always needs.
import { availableParallelism } from "node:os";
import type { Llama } from "node-llama-cpp";
import type { GpuChoice } from "../../shared/settings";

export type { GpuChoice };

/** node-llama-cpp is ESM-only with top-level await: CommonJS bundles must load it with a real import(). */
export async function nodeLlamaCpp(): Promise<typeof import("node-llama-cpp")> {
  return import("node-llama-cpp");
}

/** Threads default to at least 4, which spin-waits on 2 cores and made decoding ~300x slower here. */
export function machineThreads(): number {
  return Math.max(1, availableParallelism());
}

const runtimes = new Map<string, Promise<Llama>>();

/** `gpuReserveBytes`: GPU memory to leave to other programs; layers that do not fit in the rest run on the CPU. */
export function loadLlama(gpu: GpuChoice = "auto", gpuReserveBytes = 0): Promise<Llama> {
  const key = `${gpu}|${gpuReserveBytes}`;
  let runtime = runtimes.get(key);
  if (!runtime) {
    runtime = nodeLlamaCpp().then(({ getLlama, LlamaLogLevel }) =>
      // build "never": a GPU whose prebuilt cannot load must fail fast, not start a from-source build.
      getLlama({
        gpu: gpu === "cpu" ? false : gpu, build: "never", maxThreads: machineThreads(), logLevel: LlamaLogLevel.error, progressLogs: false,
        ...(gpuReserveBytes > 0 ? { vramPadding: gpuReserveBytes } : {}),
      }),
    );
    runtime.catch(() => runtimes.delete(key));
    runtimes.set(key, runtime);
  }
  return runtime;
}
