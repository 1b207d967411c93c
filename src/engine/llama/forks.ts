// Where the engine writes a warm question's margins on forks of the reader
// (core/wim/forkedMargins.ts), and the cache they need from node-llama-cpp's context: unified by
// the addon shim (sharedCells.c), of one context's cells and the forks' own.

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
