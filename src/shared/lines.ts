// How a source range reads, and which lines of a document it selects, for both hosts: a file with
// no lines (empty when read) has the range 0-0, and a file may have shrunk since it was read.

/** "src/a.ts:3-9", "src/a.ts:3", "src/empty.ts (empty)". */
export function sourceLabel(path: string, startLine: number, endLine: number): string {
  if (endLine < 1) return `${path} (empty)`;
  return endLine !== startLine ? `${path}:${startLine}-${endLine}` : `${path}:${startLine}`;
}

/** The zero-based lines to select for a 1-based range, kept inside a document of `lineCount` lines (at least one). */
export function selectedLines(startLine: number, endLine: number, lineCount: number): { first: number; last: number } {
  const clamp = (line: number): number => Math.min(Math.max(1, line), Math.max(1, lineCount)) - 1;
  const first = clamp(startLine);
  return { first, last: Math.max(first, clamp(endLine)) };
}
