// The built-in reader's view of git, for when no git binary answers: which repository holds a
// folder (looking upward for `.git`, a folder or a file pointing elsewhere, as in worktrees and
// submodule checkouts), its ignore rules above the folder, its info/exclude and excludes file, and
// the paths its index tracks. It says what it cannot see: a split index's shared part, a sparse
// index's folded directories.
import { readFile, stat } from "node:fs/promises";
import { homedir } from "node:os";
import { dirname, isAbsolute, join, relative, resolve, sep } from "node:path";
import { readGitIndexFile } from "./gitIndex";
import { ruleSet, type RuleSet } from "./ignoreRules";

export interface Repository {
  workTree: string;
  gitDir: string;
  /** Where a linked worktree's shared parts live (info/exclude, config); the gitDir otherwise. */
  commonDir: string;
  /** The folder read, relative to the work tree ("" at its root), with "/" separators. */
  prefix: string;
}

export interface RepositoryRules {
  /** .gitignore files above the folder, outermost first. */
  above: RuleSet[];
  /** A rule above ignores the folder itself (or a folder on the way to it): only tracked files are listed. */
  folderIgnored: boolean;
  /** info/exclude, then the excludes file, seeing the folder's paths from the work tree's root. */
  excludes: RuleSet[];
  /** Paths the index tracks, relative to the folder. */
  tracked: Set<string>;
  /** What the reader could not see, in words, once. */
  notes: string[];
}

async function text(path: string): Promise<string | undefined> {
  try {
    return await readFile(path, "utf8");
  } catch {
    return undefined;
  }
}

/** The repository whose work tree holds `folder`, if any. */
export async function findRepository(folder: string): Promise<Repository | undefined> {
  for (let dir = resolve(folder); ; dir = dirname(dir)) {
    const dotGit = join(dir, ".git");
    const st = await stat(dotGit).catch(() => undefined);
    if (st?.isDirectory()) return repositoryAt(dir, dotGit, folder);
    if (st?.isFile()) {
      // "gitdir: <path>", relative to the folder holding the file.
      const line = /^gitdir:\s*(.+?)\s*$/m.exec((await text(dotGit)) ?? "")?.[1];
      if (line) return repositoryAt(dir, isAbsolute(line) ? line : resolve(dir, line), folder);
    }
    if (dirname(dir) === dir) return undefined;
  }
}

async function repositoryAt(workTree: string, gitDir: string, folder: string): Promise<Repository> {
  const common = (await text(join(gitDir, "commondir")))?.trim();
  const commonDir = common ? (isAbsolute(common) ? common : resolve(gitDir, common)) : gitDir;
  return { workTree, gitDir, commonDir, prefix: relative(workTree, resolve(folder)).split(sep).join("/") };
}

/** A `key = value` from git config text, section and key compared as git does (case-insensitively). */
function configValue(config: string, section: string, key: string): string | undefined {
  let inSection = false;
  let found: string | undefined;
  for (const raw of config.split("\n")) {
    const line = raw.trim();
    const header = /^\[([^\]\s"]+)(?:\s+"[^"]*")?\]/.exec(line);
    if (header) { inSection = header[1]!.toLowerCase() === section; continue; }
    const kv = /^([A-Za-z][\w-]*)\s*=\s*(.*)$/.exec(line);
    if (inSection && kv && kv[1]!.toLowerCase() === key) found = kv[2]!.replace(/^"(.*)"$/, "$1").trim();
  }
  return found;
}

/**
 * A file git takes from its config: `core.<key>` from the repository's, the user's or the XDG
 * config, else its default place under $XDG_CONFIG_HOME/git (core.excludesFile: ignore;
 * core.attributesFile: attributes).
 */
export async function configuredFile(repo: Repository, key: "excludesfile" | "attributesfile", defaultName: string): Promise<string> {
  const xdg = process.env.XDG_CONFIG_HOME || join(homedir(), ".config");
  // In git's order, later winning: the XDG config, the user's (or $GIT_CONFIG_GLOBAL), the repository's.
  const user = process.env.GIT_CONFIG_GLOBAL ? [process.env.GIT_CONFIG_GLOBAL] : [join(xdg, "git", "config"), join(homedir(), ".gitconfig")];
  let value: string | undefined;
  for (const file of [...user, join(repo.commonDir, "config")]) {
    const v = configValue((await text(file)) ?? "", "core", key);
    if (v !== undefined) value = v;
  }
  if (value === undefined) return join(xdg, "git", defaultName);
  return value.startsWith("~/") ? join(homedir(), value.slice(2)) : value;
}

export async function repositoryRules(repo: Repository): Promise<RepositoryRules> {
  const notes: string[] = [];
  const toRoot = repo.prefix ? repo.prefix + "/" : "";
  const excludes = [await text(join(repo.commonDir, "info", "exclude")), await text(await configuredFile(repo, "excludesfile", "ignore"))]
    .flatMap((source) => ruleSet("", [source ?? ""], toRoot) ?? []);
  // .gitignore files from the work tree's root down to the folder's parent; each sees the
  // folder's paths from its own directory, the rest of the way down prepended.
  const above: RuleSet[] = [];
  const byDepth = new Map<number, RuleSet>();
  const parts = repo.prefix ? repo.prefix.split("/") : [];
  for (let depth = 0; depth < parts.length; depth++) {
    const source = await text(join(repo.workTree, ...parts.slice(0, depth), ".gitignore"));
    const rules = source ? ruleSet("", [source], parts.slice(depth).join("/") + "/") : undefined;
    if (rules) { above.push(rules); byDepth.set(depth, rules); }
  }
  // Each folder on the way down, judged by the rules above it (deepest first), then the excludes, as git would.
  let folderIgnored = false;
  for (let k = 1; k <= parts.length && !folderIgnored; k++) {
    const verdicts = [...Array.from({ length: k }, (_, i) => k - 1 - i).map((depth) => ({ set: byDepth.get(depth), path: parts.slice(depth, k).join("/") + "/" })),
      ...excludes.map((set) => ({ set, path: parts.slice(0, k).join("/") + "/" }))];
    for (const { set, path } of verdicts) {
      const verdict = set?.matchers.map((m) => m.test(path)).find((r) => r.ignored || r.unignored);
      if (verdict) { folderIgnored = verdict.ignored; break; }
    }
  }
  const config = (await text(join(repo.commonDir, "config"))) ?? "";
  const hashBytes = configValue(config, "extensions", "objectformat")?.toLowerCase() === "sha256" ? 32 : 20;
  const index = await readGitIndexFile(join(repo.gitDir, "index"), hashBytes);
  const tracked = new Set<string>();
  if (!index) notes.push("the repository's index could not be read: files git tracks inside ignored folders are missed");
  else {
    if (index.splitIndex) notes.push("a split index: the files in its shared part are not seen, so tracked files that an ignore rule matches may be missed");
    if (index.sparseDirectories) notes.push("a sparse index: files in its folded directories are not seen");
    const prefix = repo.prefix ? repo.prefix + "/" : "";
    for (const e of index.entries) if (!e.submodule && e.path.startsWith(prefix)) tracked.add(e.path.slice(prefix.length));
  }
  return { above, folderIgnored, excludes, tracked, notes };
}
