// Maps the paths a run shows back to files, refusing anything outside the run's roots.
// No vscode import: tested under Node.
import { resolve } from "node:path";
import { displayNames, isInside } from "../core/workspace/reader";

/** The file a display path names, only if it lies inside one of the run's roots. */
export function absolutePath(roots: readonly string[], display: string): string | undefined {
  // Shown paths are always relative, with no empty, "." or ".." parts.
  if (!display || display.split("/").some((part) => part === "" || part === "." || part === "..")) return undefined;
  const names = displayNames(roots.map((r) => resolve(r)));
  for (const [root, name] of names) {
    const rel = name ? (display.startsWith(name + "/") ? display.slice(name.length + 1) : undefined) : display;
    if (rel === undefined) continue;
    const abs = resolve(root, ...rel.split("/"));
    if (abs !== root && isInside(root, abs)) return abs;
  }
  return undefined;
}

/** Whether `path` lies inside (or is) one of `roots`. */
export function insideAny(roots: readonly string[], path: string): boolean {
  return roots.some((r) => isInside(resolve(r), resolve(path)));
}
