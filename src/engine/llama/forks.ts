// The cache a warm question's margins on forks of the reader (core/wim/forkedMargins.ts) need from
// node-llama-cpp's context: unified by the addon shim (sharedCells.c), of one context's cells and
// the forks' own. Whether forks are wanted at all is shared/addonShim.ts's forksWanted, since the
// shim's mode follows it.

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
