// Walks workspace roots and returns the files a user would want a model to read, with every
// skipped file counted by reason. Nothing here throws for a bad file: it is skipped and counted.
import { lstat, readdir, readFile, readlink, realpath, stat } from "node:fs/promises";
import { basename, isAbsolute, join, relative, resolve, sep } from "node:path";
import { homedir } from "node:os";
import { mapLimit, semaphore } from "../concurrency";
import { DEFAULT_GENERATED, DEFAULT_LOCKFILES, decodeText, nameMatchers, sniff } from "./fileKinds";
import { globMatcher, IgnoreStack, ruleSet } from "./ignoreRules";
import { readGitIndex } from "./gitIndex";

export const SKIP_REASONS = [
  "binary", "too-large", "lockfile", "generated", "minified", "line-too-long",
  "symlink-loop", "symlink-outside", "symlink-directory", "unreadable", "nested-repository",
] as const;
export type SkipReason = (typeof SKIP_REASONS)[number];

export interface SkippedFile { path: string; reason: SkipReason; detail?: string }

export interface WorkspaceFile {
  /** Path shown to the model and the user: relative to its root, prefixed by the root's name when there are several. */
  path: string;
  absPath: string;
  root: string;
  bytes: number;
  text: string;
  /** Last modification time, for ordering the files that change least first. */
  modifiedMs: number;
}

export interface ReadOptions {
  include?: readonly string[];
  exclude?: readonly string[];
  respectGitignore?: boolean;
  maxFileBytes?: number;
  lockfiles?: readonly string[];
  generated?: readonly string[];
  concurrency?: number;
  signal?: AbortSignal;
  /** Told the total size of the files about to be read, once the walk is done and before reading. */
  onSize?: (bytes: number) => void;
  /**
   * "path" (default): by path. "recent-last": files modified in the last day go last, oldest
   * first, the rest by path; an edit then changes only the end of the packed text, so the warm
   * cache reuses everything before it.
   */
  order?: "path" | "recent-last";
}

export interface WorkspaceRead { files: WorkspaceFile[]; skipped: SkippedFile[] }

export const DEFAULT_MAX_FILE_BYTES = 1024 * 1024;
export const IGNORE_FILE = ".askcodebaseignore";
const RECENT_MS = 24 * 3600 * 1000;

interface Candidate { root: string; rel: string; abs: string; display: string; size: number; modifiedMs: number }

export async function readWorkspace(roots: readonly string[], options: ReadOptions = {}): Promise<WorkspaceRead> {
  const skipped: SkippedFile[] = [];
  const candidates: Candidate[] = [];
  const names = displayNames(roots.map((r) => resolve(r)));
  for (const [root, name] of names) {
    await collect(root, name, options, candidates, skipped);
  }
  const maxBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  const kinds = nameMatchers(options.lockfiles ?? DEFAULT_LOCKFILES, options.generated ?? DEFAULT_GENERATED);
  const toRead: Candidate[] = [];
  for (const c of candidates) {
    if (kinds.lockfile(c.rel)) skipped.push({ path: c.display, reason: "lockfile" });
    else if (kinds.generated(c.rel)) skipped.push({ path: c.display, reason: "generated" });
    else if (c.size > maxBytes) skipped.push({ path: c.display, reason: "too-large", detail: `${c.size} bytes` });
    else toRead.push(c);
  }
  options.onSize?.(toRead.reduce((n, c) => n + c.size, 0));
  const read = await mapLimit(toRead, options.concurrency ?? 32, async (c): Promise<WorkspaceFile | SkippedFile> => {
    options.signal?.throwIfAborted();
    const read = await readFileText(c.abs, maxBytes);
    if (!("text" in read)) return { path: c.display, ...read };
    return { path: c.display, absPath: c.abs, root: c.root, bytes: read.bytes, text: read.text, modifiedMs: c.modifiedMs };
  });
  const files: WorkspaceFile[] = [];
  for (const r of read) {
    if ("reason" in r) skipped.push(r);
    else files.push(r);
  }
  if (options.order === "recent-last") {
    const recent = Date.now() - RECENT_MS;
    // Whole seconds: files written together (a checkout, a save-all) keep their path order.
    const key = (f: WorkspaceFile): number => (f.modifiedMs < recent ? 0 : Math.floor(f.modifiedMs / 1000));
    files.sort((a, b) => key(a) - key(b) || compare(a.path, b.path));
  } else {
    files.sort((a, b) => compare(a.path, b.path));
  }
  skipped.sort((a, b) => compare(a.path, b.path));
  return { files, skipped };
}

export function countByReason(skipped: readonly SkippedFile[]): Partial<Record<SkipReason, number>> {
  const counts: Partial<Record<SkipReason, number>> = {};
  for (const s of skipped) counts[s.reason] = (counts[s.reason] ?? 0) + 1;
  return counts;
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/** The name each root's files are shown under: none for a single root, else the folder's name (made unique). */
export function displayNames(roots: string[]): Map<string, string> {
  const out = new Map<string, string>();
  const used = new Set<string>();
  for (const root of roots) {
    if (roots.length === 1) { out.set(root, ""); break; }
    let name = basename(root) || "root";
    for (let i = 2; used.has(name); i++) name = `${basename(root)}-${i}`;
    used.add(name);
    out.set(root, name);
  }
  return out;
}

/** A file's text, or why it is not read: unreadable, too large (its size can change after the walk), binary, minified or generated. */
export async function readFileText(abs: string, maxBytes: number): Promise<{ text: string; bytes: number } | Omit<SkippedFile, "path">> {
  let bytes: Buffer;
  try {
    bytes = await readFile(abs);
  } catch (err) {
    return { reason: "unreadable", detail: errorCode(err) };
  }
  if (bytes.length > maxBytes) return { reason: "too-large", detail: `${bytes.length} bytes` };
  const verdict = sniff(bytes);
  if (verdict !== "text") return { reason: verdict };
  return { text: decodeText(bytes), bytes: bytes.length };
}

function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException)?.code ?? String(err);
}

async function readText(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch {
    return "";
  }
}

async function collect(root: string, name: string, options: ReadOptions, out: Candidate[], skipped: SkippedFile[]): Promise<void> {
  const respectGit = options.respectGitignore ?? true;
  const display = (rel: string): string => (name ? `${name}/${rel}` : rel);
  const fallback = [];
  let tracked = new Set<string>();
  const gitDir = join(root, ".git");
  if (respectGit) {
    const exclude = ruleSet("", [await readText(join(gitDir, "info", "exclude")), await readText(globalExcludesFile())]);
    if (exclude) fallback.push(...exclude.matchers);
    const index = await readGitIndex(gitDir);
    if (index) tracked = new Set(index.filter((e) => !e.submodule).map((e) => e.path));
  }
  const excluded = globMatcher(options.exclude ?? []);
  const included = globMatcher(options.include ?? []);
  const realRoot = await realpath(root).catch(() => root);
  const limit = semaphore(options.concurrency ?? 32);
  const seenFiles = new Set<string>();

  const consider = (rel: string, st: { size: number; mtimeMs: number }, abs: string): void => {
    if (included && !included(rel)) return;
    if (seenFiles.has(rel)) return;
    seenFiles.add(rel);
    out.push({ root, rel, abs, display: display(rel), size: st.size, modifiedMs: st.mtimeMs });
  };

  const walk = async (dirRel: string, rules: IgnoreStack): Promise<void> => {
    options.signal?.throwIfAborted();
    const dirAbs = dirRel ? join(root, dirRel) : root;
    let entries;
    try {
      entries = await limit(() => readdir(dirAbs, { withFileTypes: true }));
    } catch (err) {
      skipped.push({ path: display(dirRel || "."), reason: "unreadable", detail: errorCode(err) });
      return;
    }
    const names = new Set(entries.map((e) => e.name));
    const sources = [];
    if (names.has(IGNORE_FILE)) sources.push(await readText(join(dirAbs, IGNORE_FILE)));
    if (respectGit && names.has(".gitignore")) sources.push(await readText(join(dirAbs, ".gitignore")));
    const here = rules.child(ruleSet(dirRel, sources));
    const subdirs: string[] = [];
    await Promise.all(entries.map(async (entry) => {
      const rel = dirRel ? `${dirRel}/${entry.name}` : entry.name;
      if (entry.name === ".git") return;
      const abs = join(dirAbs, entry.name);
      if (entry.isDirectory()) {
        if (isIgnored(rel + "/", here, excluded)) return;
        if (respectGit && (await isNestedRepository(abs))) {
          skipped.push({ path: display(rel), reason: "nested-repository" });
          return;
        }
        subdirs.push(rel);
        return;
      }
      const isTracked = tracked.has(rel);
      if (!isTracked && isIgnored(rel, here, excluded)) return;
      if (isTracked && excluded?.(rel)) return;
      if (entry.isSymbolicLink()) {
        const verdict = await followLink(abs, realRoot);
        if (verdict.reason) skipped.push({ path: display(rel), reason: verdict.reason, ...(verdict.detail ? { detail: verdict.detail } : {}) });
        else consider(rel, verdict, abs);
        return;
      }
      if (!entry.isFile()) return;
      try {
        const st = await limit(() => lstat(abs));
        consider(rel, st, abs);
      } catch (err) {
        skipped.push({ path: display(rel), reason: "unreadable", detail: errorCode(err) });
      }
    }));
    await Promise.all(subdirs.map((d) => walk(d, here)));
  };
  await walk("", new IgnoreStack([], fallback));

  // Tracked files inside ignored directories: git lists them, so do we.
  for (const rel of tracked) {
    if (seenFiles.has(rel) || excluded?.(rel)) continue;
    const abs = join(root, ...rel.split("/"));
    try {
      const st = await lstat(abs);
      if (st.isFile()) consider(rel, st, abs);
    } catch {
      // Deleted in the work tree but still in the index: git ls-files lists it, there is nothing to read.
    }
  }
}

function isIgnored(rel: string, rules: IgnoreStack, excluded: ((p: string) => boolean) | undefined): boolean {
  return rules.ignores(rel) || (excluded?.(rel) ?? false);
}

async function isNestedRepository(dir: string): Promise<boolean> {
  try {
    await lstat(join(dir, ".git"));
    return true;
  } catch {
    return false;
  }
}

/** A symlink is read only when it resolves to a regular file inside the root. */
async function followLink(abs: string, realRoot: string): Promise<{ reason?: SkipReason; detail?: string; size: number; mtimeMs: number }> {
  let target: string;
  try {
    target = await realpath(abs);
  } catch (err) {
    const code = errorCode(err);
    if (code === "ELOOP") return { reason: "symlink-loop", size: 0, mtimeMs: 0 };
    const to = await readlink(abs).catch(() => "?");
    return { reason: "unreadable", detail: `${code}: link to ${to}`, size: 0, mtimeMs: 0 };
  }
  const rel = relative(realRoot, target);
  if (rel === "" || rel === ".." || rel.startsWith(".." + sep) || isAbsolute(rel)) {
    return { reason: "symlink-outside", detail: target, size: 0, mtimeMs: 0 };
  }
  const st = await stat(target).catch(() => undefined);
  if (!st) return { reason: "unreadable", size: 0, mtimeMs: 0 };
  // The directory is read under its own path already; following the link would read it twice.
  if (st.isDirectory()) return { reason: "symlink-directory", detail: rel, size: 0, mtimeMs: 0 };
  return { size: st.size, mtimeMs: st.mtimeMs };
}

function globalExcludesFile(): string {
  const xdg = process.env.XDG_CONFIG_HOME || join(homedir(), ".config");
  return join(xdg, "git", "ignore");
}
