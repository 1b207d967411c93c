// What the warm cache's folder holds, file by file: its own files are known by their names (an
// entry's 32-hex id and a suffix, and the folder's marker), anything else is another program's and
// is never touched. Clearing removes only the cache's own files, and refuses a folder that holds
// none of them: a mistyped `--cache-dir .` must not wipe a project.
import { readdir, rm, rmdir, stat } from "node:fs/promises";
import { join } from "node:path";

/** Written into the folder the first time an entry is stored: the folder is a cache. */
export const FOLDER_MARKER = "ask-codebase-cache.json";

export type CacheFileKind = "meta" | "state" | "partial" | "loading" | "marker";

export interface CacheFile { name: string; kind: CacheFileKind; id: string; bytes: number; modifiedMs: number; pid?: number }
export interface FolderScan { own: CacheFile[]; foreign: { name: string; bytes: number }[]; exists: boolean }

const ID = "[0-9a-f]{32}";
const PATTERNS: [CacheFileKind, RegExp][] = [
  ["meta", new RegExp(`^(${ID})\\.json$`)],
  ["state", new RegExp(`^(${ID})\\.state$`)],
  ["partial", new RegExp(`^(${ID})\\.state\\.(\\d+)\\.partial$`)],
  ["loading", new RegExp(`^(${ID})\\.state\\.loading$`)],
];

export function cacheFileKind(name: string): { kind: CacheFileKind; id: string; pid?: number } | undefined {
  if (name === FOLDER_MARKER) return { kind: "marker", id: "" };
  for (const [kind, re] of PATTERNS) {
    const m = re.exec(name);
    if (m) return { kind, id: m[1]!, ...(m[2] ? { pid: Number(m[2]) } : {}) };
  }
  return undefined;
}

export async function scanFolder(directory: string): Promise<FolderScan> {
  let names: string[];
  try {
    names = await readdir(directory);
  } catch {
    return { own: [], foreign: [], exists: false };
  }
  const scan: FolderScan = { own: [], foreign: [], exists: true };
  for (const name of names) {
    const st = await stat(join(directory, name)).catch(() => undefined);
    if (!st) continue;
    const kind = st.isFile() ? cacheFileKind(name) : undefined;
    if (kind) scan.own.push({ name, ...kind, bytes: st.size, modifiedMs: st.mtimeMs });
    else scan.foreign.push({ name, bytes: st.isFile() ? st.size : 0 });
  }
  return scan;
}

export class NotACacheError extends Error {
  override name = "NotACacheError";
}

export interface Cleared { files: number; bytes: number; entries: number; /** Other programs' files, left where they are. */ left: number }

/** Removes the cache's own files (and the folder, once empty); refuses a folder that holds only others'. */
export async function clearFolder(directory: string): Promise<Cleared> {
  const scan = await scanFolder(directory);
  if (!scan.exists) return { files: 0, bytes: 0, entries: 0, left: 0 };
  if (!scan.own.length && scan.foreign.length) {
    throw new NotACacheError(`${directory} is not an ask-codebase cache: it holds ${scan.foreign.length} ${scan.foreign.length === 1 ? "thing" : "things"} the cache did not write, and none it did. Nothing was removed.`);
  }
  // The entries' .json first: without it a .state is no longer an entry, even if removing it fails.
  const order: CacheFileKind[] = ["meta", "loading", "partial", "state", "marker"];
  const own = [...scan.own].sort((a, b) => order.indexOf(a.kind) - order.indexOf(b.kind));
  const cleared: Cleared = { files: 0, bytes: 0, entries: own.filter((f) => f.kind === "meta").length, left: scan.foreign.length };
  for (const f of own) {
    await rm(join(directory, f.name), { force: true });
    cleared.files++;
    cleared.bytes += f.bytes;
  }
  if (!scan.foreign.length) await rmdir(directory).catch(() => undefined);
  return cleared;
}
