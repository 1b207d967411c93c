// Walking a folder ourselves: the built-in reader for when git does not answer, and the plain walk
// for a folder in no repository. Applies .gitignore files as it goes down (with those above the
// folder and the excludes, when the folder is in a repository), keeps tracked files an ignore
// rule matches, and reports repositories inside rather than walking into them. Other version
// controls' metadata is never walked (an SVN working copy's .svn holds a second copy of every
// file), and a folder in no repository leaves out what tools put there (toolFolder).
import { lstat, open, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { semaphore } from "../concurrency";
import { IgnoreStack, ruleSet, type RuleSet } from "./ignoreRules";

export interface WalkRules {
  /** Apply .gitignore files (and `above`, `excludes`); false walks everything but .git. */
  respectGit: boolean;
  above?: readonly RuleSet[];
  excludes?: readonly RuleSet[];
  /** Paths the repository's index tracks, relative to the folder: listed even where a rule ignores them. */
  tracked?: ReadonlySet<string>;
  /** A rule above ignores the folder itself: only tracked files are listed. */
  folderIgnored?: boolean;
  /**
   * Leave out folders that tools made (dependencies, virtual environments, caches): for a folder
   * in no repository, where no .gitignore a project would have says so.
   */
  leaveOutToolFolders?: boolean;
}

export interface Walked {
  /** Every file, link or other non-directory entry listed, relative to the folder. */
  paths: string[];
  /** Folders holding their own repository (a `.git` inside), relative to the folder: not walked. */
  repositories: string[];
  /** Folders that could not be listed, with why. */
  unreadable: { path: string; detail: string }[];
  /** Folders tools made, left out with what they are: other version controls' always, the rest with leaveOutToolFolders. */
  toolFolders: { path: string; detail: string }[];
}

/** Other version controls' metadata: never source, whatever the rules (git's own is never listed). */
const VCS_FOLDERS = new Map([
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
/** Folders that are a tool's by their name alone. */
const TOOL_FOLDER_NAMES = new Map([
  ["node_modules", "npm packages"], ["bower_components", "Bower packages"], ["jspm_packages", "jspm packages"], ["__pycache__", "Python bytecode"],
]);
/** The Cache Directory Tagging Specification's signature (bford.info/cachedir): Cargo's target, pytest's and mypy's caches. */
const CACHEDIR_SIGNATURE = "Signature: 8a477f597d28d172789f06886806bc55";

/** What tool made the folder, by a file inside that says so, or undefined when none does. */
async function toolFolder(dirAbs: string, names: ReadonlySet<string>): Promise<string | undefined> {
  if (names.has("pyvenv.cfg")) return "a Python virtual environment (pyvenv.cfg)";
  if (names.has("conda-meta")) return "a conda environment (conda-meta)";
  if (names.has("CACHEDIR.TAG")) {
    const head = Buffer.alloc(CACHEDIR_SIGNATURE.length);
    const read = await open(join(dirAbs, "CACHEDIR.TAG")).then(async (fh) => { try { return (await fh.read(head, 0, head.length, 0)).bytesRead; } finally { await fh.close(); } }, () => 0);
    if (head.subarray(0, read).toString("latin1") === CACHEDIR_SIGNATURE) return "a cache (CACHEDIR.TAG)";
  }
  return undefined;
}

async function text(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch {
    return "";
  }
}

export async function walkFolder(root: string, rules: WalkRules, options: { signal?: AbortSignal; concurrency?: number } = {}): Promise<Walked> {
  const out: Walked = { paths: [], repositories: [], unreadable: [], toolFolders: [] };
  const limit = semaphore(options.concurrency ?? 32);
  const listed = new Set<string>();
  const tracked = rules.tracked ?? new Set<string>();

  const walk = async (dirRel: string, stack: IgnoreStack): Promise<void> => {
    options.signal?.throwIfAborted();
    const dirAbs = dirRel ? join(root, dirRel) : root;
    let entries;
    try {
      entries = await limit(() => readdir(dirAbs, { withFileTypes: true }));
    } catch (err) {
      out.unreadable.push({ path: dirRel || ".", detail: (err as NodeJS.ErrnoException).code ?? String(err) });
      return;
    }
    // The folder opened is read whatever made it: the user chose it.
    const made = dirRel && rules.leaveOutToolFolders ? await toolFolder(dirAbs, new Set(entries.map((e) => e.name))) : undefined;
    if (made) {
      out.toolFolders.push({ path: dirRel, detail: made });
      return;
    }
    const here = rules.respectGit && entries.some((e) => e.name === ".gitignore") ? stack.child(ruleSet(dirRel, [await text(join(dirAbs, ".gitignore"))])) : stack;
    const subdirs: string[] = [];
    await Promise.all(entries.map(async (entry) => {
      if (entry.name === ".git") return;
      const rel = dirRel ? `${dirRel}/${entry.name}` : entry.name;
      if (entry.isDirectory()) {
        const vcs = VCS_FOLDERS.get(entry.name);
        if (vcs) {
          out.toolFolders.push({ path: rel, detail: vcs });
          return;
        }
        if (rules.respectGit && here.ignores(rel + "/")) return;
        const named = rules.leaveOutToolFolders ? TOOL_FOLDER_NAMES.get(entry.name) : undefined;
        if (named) {
          out.toolFolders.push({ path: rel, detail: named });
          return;
        }
        const nested = rules.respectGit && (await lstat(join(dirAbs, entry.name, ".git")).then(() => true, () => false));
        if (nested) out.repositories.push(rel);
        else subdirs.push(rel);
        return;
      }
      if (rules.respectGit && !tracked.has(rel) && here.ignores(rel)) return;
      listed.add(rel);
      out.paths.push(rel);
    }));
    await Promise.all(subdirs.map((d) => walk(d, here)));
  };
  if (!rules.folderIgnored) await walk("", new IgnoreStack([...(rules.above ?? [])], rules.excludes ?? []));
  // Tracked files inside ignored folders: git lists them, so do we.
  for (const rel of tracked) if (!listed.has(rel)) out.paths.push(rel);
  return out;
}
