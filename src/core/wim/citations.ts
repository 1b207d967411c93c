// Finds the `path:line` references in a margin (or an answer) that point into what the run read.
// The webview links what it shows by the same pattern, so the two never disagree (a `Makefile:12`
// with no extension is a citation in both). No node imports: the webview bundles it.
import type { SourcePiece } from "../pack/packer";

export interface Citation { path: string; line: number; endLine: number; text: string }

/** `path:line` or `path:first-last`; the path any run of file-name characters and slashes. */
export const CITATION = /([\w@.~+-]+(?:\/[\w@.~+-]+)*):(\d+)(?:-(\d+))?/g;

export function findCitations(margin: string, sources: readonly SourcePiece[]): Citation[] {
  const found: Citation[] = [];
  const seen = new Set<string>();
  for (const m of margin.matchAll(CITATION)) {
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
