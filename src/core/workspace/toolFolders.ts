// Folders that hold no one's source: other version controls' metadata (never read), and what tools
// made (dependencies, virtual environments, caches), known by name or by a file inside that says
// so. A folder in no repository has no .gitignore to leave these out (walk.ts); a repository whose
// .gitignore forgot them lists them as untracked (untrackedToolFolders).
import { open } from "node:fs/promises";
import { join } from "node:path";

/** Other version controls' metadata: never source, whatever the rules (git's own is never listed). */
export const VCS_FOLDERS = new Map([
  [".svn", "Subversion's metadata"], [".hg", "Mercurial's metadata"], [".bzr", "Bazaar's metadata"], ["_darcs", "Darcs's metadata"], ["CVS", "CVS's metadata"],
]);

/** The version control folder a listed path lies in (its path and what it is), if any. */
export function vcsFolderOf(rel: string): { path: string; detail: string } | undefined {
  const parts = rel.split("/");
  for (let i = 0; i < parts.length - 1; i++) {
    const detail = VCS_FOLDERS.get(parts[i]!);
    if (detail) return { path: parts.slice(0, i + 1).join("/"), detail };
  }
  return undefined;
}

/**
 * Folders that are a tool's by their name alone: names no project gives its own source (a `build`
 * or `target` may be either, and is known by a mark inside instead).
 */
export const TOOL_FOLDER_NAMES = new Map([
  ["node_modules", "npm packages"], ["bower_components", "Bower packages"], ["jspm_packages", "jspm packages"], ["__pycache__", "Python bytecode"],
  ["__pypackages__", "PDM packages"], [".tox", "tox environments"], [".nox", "nox environments"], [".gradle", "Gradle's caches"],
  [".terraform", "Terraform providers and modules"], [".next", "a Next.js build"], [".nuxt", "a Nuxt build"], [".svelte-kit", "a SvelteKit build"],
  [".parcel-cache", "Parcel's cache"], [".turbo", "Turborepo's cache"], [".stack-work", "Stack's build"], ["dist-newstyle", "Cabal's build"],
  [".zig-cache", "Zig's cache"], ["zig-cache", "Zig's cache"], [".elixir_ls", "ElixirLS's build"],
]);
/** The Cache Directory Tagging Specification's signature (bford.info/cachedir): Cargo's target, pytest's and mypy's caches. */
const CACHEDIR_SIGNATURE = "Signature: 8a477f597d28d172789f06886806bc55";

/** What tool made the folder, by a file inside that says so (`names`: what the folder holds), or undefined when none does. */
export async function toolFolder(dirAbs: string, names: ReadonlySet<string>): Promise<string | undefined> {
  if (names.has("pyvenv.cfg")) return "a Python virtual environment (pyvenv.cfg)";
  if (names.has("conda-meta")) return "a conda environment (conda-meta)";
  if (names.has("CMakeCache.txt")) return "a CMake build tree (CMakeCache.txt)";
  if (names.has("CACHEDIR.TAG")) {
    const head = Buffer.alloc(CACHEDIR_SIGNATURE.length);
    const read = await open(join(dirAbs, "CACHEDIR.TAG")).then(async (fh) => { try { return (await fh.read(head, 0, head.length, 0)).bytesRead; } finally { await fh.close(); } }, () => 0);
    if (head.subarray(0, read).toString("latin1") === CACHEDIR_SIGNATURE) return "a cache (CACHEDIR.TAG)";
  }
  return undefined;
}

/** Whether `rel` names one of the version control folders (its last part). */
export function isVcsFolder(rel: string): boolean {
  return VCS_FOLDERS.has(rel.slice(rel.lastIndexOf("/") + 1));
}

/** The shallowest of `folders` that `rel` lies inside (strictly below), if any. */
export function folderAbove(folders: { has(dir: string): boolean }, rel: string): string | undefined {
  for (let i = rel.indexOf("/"); i > 0; i = rel.indexOf("/", i + 1)) {
    const dir = rel.slice(0, i);
    if (folders.has(dir)) return dir;
  }
  return undefined;
}

/** Every folder (relative, "/"-separated) that holds one of `paths`, at any depth. */
export function foldersHolding(paths: Iterable<string>): Set<string> {
  const out = new Set<string>();
  for (const path of paths) {
    for (let i = path.lastIndexOf("/"); i > 0; i = path.lastIndexOf("/", i - 1)) {
      const dir = path.slice(0, i);
      if (out.has(dir)) break;
      out.add(dir);
    }
  }
  return out;
}

/**
 * The tool folders among a repository's untracked files (a .gitignore that forgot node_modules or
 * .venv lists thousands of them): each folder's path and what it is. A folder the project tracks
 * any file in is the project's (vendored packages), whatever its name.
 */
export async function untrackedToolFolders(folder: string, untracked: readonly string[], tracked: Iterable<string>): Promise<Map<string, string>> {
  const projects = foldersHolding(tracked);
  // What each folder holds, as far as the untracked files show.
  const holds = new Map<string, Set<string>>();
  for (const path of untracked) {
    const parts = path.split("/");
    for (let i = 0; i + 1 < parts.length; i++) {
      const dir = parts.slice(0, i + 1).join("/");
      let names = holds.get(dir);
      if (!names) holds.set(dir, (names = new Set()));
      names.add(parts[i + 1]!);
    }
  }
  const found = new Map<string, string>();
  // Shallowest first, so that a folder inside one already found is not looked at.
  const dirs = [...holds.keys()].sort((a, b) => a.split("/").length - b.split("/").length || (a < b ? -1 : 1));
  for (const dir of dirs) {
    if (projects.has(dir) || folderAbove(found, dir)) continue;
    const name = dir.slice(dir.lastIndexOf("/") + 1);
    const what = TOOL_FOLDER_NAMES.get(name) ?? (await toolFolder(join(folder, ...dir.split("/")), holds.get(dir)!));
    if (what) found.set(dir, what);
  }
  return found;
}
