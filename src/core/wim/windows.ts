// A codebase larger than the context is read in windows: when the next segment would not fit,
// the margins are kept, the cache cleared, and reading goes on.

/**
 * Groups segments into windows of at most `room` tokens, in order: the window index of each
 * segment. Undefined when a single segment does not fit.
 */
export function assignWindows(sizes: readonly number[], room: number): number[] | undefined {
  const out: number[] = [];
  let window = 0;
  let used = 0;
  for (const size of sizes) {
    if (size > room) return undefined;
    if (used + size > room) {
      window++;
      used = 0;
    }
    out.push(window);
    used += size;
  }
  return out;
}
