// Walking a folder ourselves: the built-in reader for when git does not answer, and the plain walk
// for a folder in no repository. Applies .gitignore files as it goes down (with those above the
// folder and the excludes, when the folder is in a repository), keeps tracked files an ignore
// rule matches, and reports repositories inside rather than walking into them. Other version
// controls' metadata is never walked (an SVN working copy's .svn holds a second copy of every
// file), and a folder in no repository leaves out what tools put there (toolFolder).
import { lstat, readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { semaphore } from "../concurrency";
import { IgnoreStack, ruleSet, type RuleSet } from "./ignoreRules";
import { foldersHolding, TOOL_FOLDER_NAMES, toolFolder, VCS_FOLDERS } from "./toolFolders";

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
  // A tool's folder the project tracks files in is the project's (vendored packages): walked.
  const trackedDirs = foldersHolding(tracked);

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
    const made = dirRel && rules.leaveOutToolFolders && !trackedDirs.has(dirRel) ? await toolFolder(dirAbs, new Set(entries.map((e) => e.name))) : undefined;
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
        const named = rules.leaveOutToolFolders && !trackedDirs.has(rel) ? TOOL_FOLDER_NAMES.get(entry.name) : undefined;
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
