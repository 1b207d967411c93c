// Where the engine writes margins on forks of the reader (core/wim/forkedMargins.ts), and the two
// things forks need from node-llama-cpp's context: a cache sized for them (the addon shim makes it
// unified, sharedCells.c) and batches kept small while a fork decodes (shareBatch's cap).
import { wantedWithWholeModelOnGpu } from "./gpuOnly";

/**
 * Tokens in a batch while a fork writes a margin (one of them the margin's): small enough that the
 * margin's next token waits little more than a decode alone, large enough that the reader's prefill
 * keeps most of its pace. (ASK_CODEBASE_FORK_BATCH overrides, for the benchmark.)
 */
const FORK_BATCH_GPU = 256;
const FORK_BATCH_CPU = 64;

export function forkBatchSize(env: NodeJS.ProcessEnv, gpu: boolean): number {
  const asked = Number(env.ASK_CODEBASE_FORK_BATCH);
  return asked > 0 ? asked : gpu ? FORK_BATCH_GPU : FORK_BATCH_CPU;
}

/**
 * Whether margins go on forks of the reader (core/wim/forkedMargins.ts): where the whole model is
 * on a GPU, where a token decoded alone leaves the device mostly idle. On the CPU a decode is
 * already busy with its weights and a reader's batch cut small for a margin loses more than the
 * margin gains: 17.3 s against 14.4 s on this 2-core machine (0.5b test model, 4 segments of 600
 * tokens, one 32-token margin; scratch comparison in the issue 19 note). ASK_CODEBASE_FORKS=on|off
 * overrides.
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
