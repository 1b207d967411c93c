// Where the engine writes a warm question's margins on forks of the reader
// (core/wim/forkedMargins.ts), and the cache they need from node-llama-cpp's context: unified by
// the addon shim (sharedCells.c), of one context's cells and the forks' own.
import { wantedWithWholeModelOnGpu } from "./gpuOnly";

/**
 * Whether a warm question's margins go on forks of the reader (core/wim/forkedMargins.ts): where
 * the whole model is on a GPU, where forks decode side by side in the time of one token and spare
 * loading the state again. On a 2-core CPU they changed nothing (warm second question 4.10 s with,
 * 4.21 s without, bench/runs/cpu-forks-warm.txt): its verdict prompts are compute-bound, and its
 * states are small. ASK_CODEBASE_FORKS=on|off overrides.
 */
export function forksWanted(env: NodeJS.ProcessEnv, backend: string, gpuLayers: number, totalLayers: number): boolean {
  return wantedWithWholeModelOnGpu(env.ASK_CODEBASE_FORKS, backend, gpuLayers, totalLayers);
}

/**
 * Runs `create` with the addon shim told how many cells a context that shares them needs
 * (sharedCells.c reads ASK_CODEBASE_SHARED_CELLS when the addon makes it, on its own thread).
 */
export async function withSharedCells<T>(cells: number | undefined, create: () => Promise<T>): Promise<T> {
  if (cells === undefined) return create();
  process.env.ASK_CODEBASE_SHARED_CELLS = String(cells);
  try {
    return await create();
  } finally {
    delete process.env.ASK_CODEBASE_SHARED_CELLS;
  }
}
