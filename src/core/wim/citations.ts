// Finds the `path:line` references in a margin that point into the segment it was written about.
import type { SourcePiece } from "../pack/packer";

export interface Citation { path: string; line: number; endLine: number; text: string }

const CITE = /([\w@.~+-]+(?:\/[\w@.~+-]+)*):(\d+)(?:-(\d+))?/g;

export function findCitations(margin: string, sources: readonly SourcePiece[]): Citation[] {
  const found: Citation[] = [];
  const seen = new Set<string>();
  for (const m of margin.matchAll(CITE)) {
    const path = m[1]!.replace(/^\.\//, "");
    const line = Number(m[2]);
    const endLine = m[3] ? Math.max(line, Number(m[3])) : line;
    const piece = sources.find((s) => (s.path === path || s.path.endsWith("/" + path)) && line >= s.startLine && line <= s.endLine);
    if (!piece) continue;
    const key = `${piece.path}:${line}-${endLine}`;
    if (seen.has(key)) continue;
    seen.add(key);
    found.push({ path: piece.path, line, endLine: Math.min(endLine, piece.endLine), text: m[0] });
  }
  return found;
}
