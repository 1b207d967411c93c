// The files of the workspace's roots a user would want a model to read, with every file left out
// counted by reason. The listing (listing.ts: git ls-files, or our own reader) says which paths
// exist to read; here they are sorted out by what they are, and read, each within the size cap.
// Nothing here throws for a bad file: it is skipped and counted.
import type { Stats } from "node:fs";
import { constants } from "node:fs";
import { lstat, open, readFile, readlink, realpath, stat } from "node:fs/promises";
import { basename, isAbsolute, join, relative, resolve, sep } from "node:path";
import { mapLimit } from "../concurrency";
import { DATA_HEAD_BYTES, DATA_HEAD_LINES, DEFAULT_GENERATED, DEFAULT_LOCKFILES, isDataPath, nameMatchers, normalizeNewlines, textKind } from "./fileKinds";
import { excludeMatcher, type ExcludeGlobs } from "./editorExcludes";
import { isNotebookPath, notebookText, rawByteLimit } from "./notebook";
import { decodeFile, DEFAULT_FALLBACK_ENCODING } from "./textEncoding";
import { globMatcher, IgnoreStack, ruleSet, type RuleSet } from "./ignoreRules";
import { listFolder, type ListingInfo } from "./listing";
import { formatBytes } from "../bytes";

export const SKIP_REASONS = [
  "binary", "too-large", "lockfile", "generated", "minified", "line-too-long",
  "symlink-loop", "symlink-outside", "symlink-directory", "special-file", "unreadable", "nested-repository", "tool-folder", "vendored", "lfs-pointer", "not-in-worktree", "excluded",
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
  /** How the text was decoded, when it was not plain UTF-8: the encoding, and bytes replaced by U+FFFD. */
  decoded?: { encoding: string; replaced: number };
  /** The encoding .gitattributes give it (working-tree-encoding), read in whatever the bytes look like. */
  declaredEncoding?: string;
  /** Read as an editor holds it, with changes not saved. */
  unsaved?: true;
  /** Not on disk (tracked, then deleted): read from the editor that still holds it, changed. */
  deleted?: true;
  /** The file's size on disk where `bytes` is not it (unsaved text, a data file's head): a change on disk is told by it. */
  diskBytes?: number;
  /** Where only the file's first lines are read (a large data file), what they are lines of, for the header ("a data file of 3.2 MiB, not read further"). */
  excerpt?: string;
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
  /** Told how far planning has come: files listed (`seen`), then files and bytes read. */
  onProgress?: (progress: { seen: number; files: number; bytes: number }) => void;
  /** Read submodules and repositories inside, each under its own rules (default); false leaves them out. */
  submodules?: boolean;
  /** The encoding of files that are neither UTF-8 nor UTF-16 (a WHATWG label); Windows-1252 by default. */
  encoding?: string;
  /** Instead, for files under a folder, that folder's (each workspace folder's `files.encoding`): the deepest folder holding a file decides. */
  folderEncodings?: readonly FolderEncoding[];
  /**
   * "path" (default): by path. "recent-last": files modified in the last day go last, oldest
   * first, the rest by path; an edit then changes only the end of the packed text, so the warm
   * cache reuses everything before it.
   */
  order?: "path" | "recent-last";
  /**
   * Text an editor holds for a file, changed and not saved, by absolute path: read in place of the
   * disk's, so that the question is about the code on screen and its line ranges match it. Only a
   * file the rules would read anyway is read this way.
   */
  unsaved?: ReadonlyMap<string, string>;
  /** What the editor hides (files.exclude, search.exclude), each in VS Code's glob syntax: left out as "excluded". */
  excludes?: readonly ExcludeGlobs[];
}

/** The encoding the files under a folder are read in when they are neither UTF-8 nor UTF-16. */
export interface FolderEncoding { base: string; encoding: string }

/** The fallback encoding for a file: that of the deepest folder in `folderEncodings` holding it, else `encoding`. */
export function encodingFor(options: Pick<ReadOptions, "encoding" | "folderEncodings">, abs: string): string | undefined {
  let best: { depth: number; encoding: string } | undefined;
  for (const f of options.folderEncodings ?? []) {
    const base = resolve(f.base);
    if (isInside(base, abs) && (!best || base.length > best.depth)) best = { depth: base.length, encoding: f.encoding };
  }
  return best?.encoding ?? options.encoding;
}

/** Whether absolute `abs` is `root` or under it (a name beginning with ".." is not a step up). */
export function isInside(root: string, abs: string): boolean {
  const rel = relative(root, abs);
  return rel !== ".." && !rel.startsWith(".." + sep) && !isAbsolute(rel);
}

export interface WorkspaceRead {
  files: WorkspaceFile[];
  skipped: SkippedFile[];
  /** Who listed each folder (git, the built-in reader, a plain walk), and what that could not see. */
  listings: ListingInfo[];
}

export const DEFAULT_MAX_FILE_BYTES = 1024 * 1024;
export const IGNORE_FILE = ".askcodebaseignore";
const RECENT_MS = 24 * 3600 * 1000;

interface Candidate { root: string; rel: string; abs: string; display: string; size: number; modifiedMs: number; encoding?: string; deleted?: true }

export async function readWorkspace(roots: readonly string[], options: ReadOptions = {}): Promise<WorkspaceRead> {
  const unsaved = new Map([...(options.unsaved ?? [])].map(([path, text]) => [resolve(path), text]));
  const skipped: SkippedFile[] = [];
  const candidates: Candidate[] = [];
  const listings: ListingInfo[] = [];
  const names = displayNames(roots.map((r) => resolve(r)));
  // Where each file lies on disk: a folder inside another root is not read twice.
  const claimed = new Set<string>();
  for (const [root, name] of names) {
    options.signal?.throwIfAborted();
    const display = (rel: string): string => (name ? `${name}/${rel}` : rel);
    const listed = await listFolder(root, {
      respectGitignore: options.respectGitignore ?? true, submodules: options.submodules ?? true, concurrency: options.concurrency ?? 32,
      ...(options.signal ? { signal: options.signal } : {}),
    });
    listings.push(...listed.infos);
    for (const l of listed.left) skipped.push({ path: display(l.path), reason: l.reason, ...(l.detail ? { detail: l.detail } : {}) });
    const realRoot = await realpath(root).catch(() => root);
    const included = globMatcher(options.include ?? []);
    const excluded = globMatcher(options.exclude ?? []);
    const paths = await withoutHidden((await withoutAskIgnored(root, listed.paths))
      .filter((rel) => (!included || included(rel)) && !excluded?.(rel) && !claimed.has(join(realRoot, rel))), excludeMatcher(options.excludes ?? [], root), display, skipped);
    for (const rel of paths) claimed.add(join(realRoot, rel));
    let seen = 0;
    const kinds = await mapLimit(paths, options.concurrency ?? 32, async (rel) => {
      options.signal?.throwIfAborted();
      if (++seen % 1024 === 0) options.onProgress?.({ files: 0, bytes: 0, seen: candidates.length + seen });
      return { rel, kind: await fileKind(join(root, ...rel.split("/")), realRoot) };
    });
    for (const { rel, kind: found } of kinds) {
      const marks = listed.attributes.get(rel);
      const abs = join(root, ...rel.split("/"));
      // Tracked, deleted on disk, and open with changes in an editor: what the editor holds is the file.
      const editorOnly = "reason" in found && found.reason === "not-in-worktree" ? unsaved.get(abs) : undefined;
      const kind = editorOnly === undefined ? found : { size: Buffer.byteLength(editorOnly, "utf8"), mtimeMs: Date.now() };
      if ("reason" in kind) skipped.push({ path: display(rel), reason: kind.reason, ...(kind.detail ? { detail: kind.detail } : {}) });
      // The repository's own word, in .gitattributes, on what a file is.
      else if (marks?.generated) skipped.push({ path: display(rel), reason: "generated", detail: "linguist-generated in .gitattributes" });
      else if (marks?.vendored) skipped.push({ path: display(rel), reason: "vendored", detail: "linguist-vendored in .gitattributes" });
      else if (marks?.binary) skipped.push({ path: display(rel), reason: "binary", detail: "-diff in .gitattributes" });
      else candidates.push({ root, rel, abs, display: display(rel), size: kind.size, modifiedMs: kind.mtimeMs, ...(marks?.encoding ? { encoding: marks.encoding } : {}), ...(editorOnly !== undefined ? { deleted: true as const } : {}) });
    }
    options.onProgress?.({ files: 0, bytes: 0, seen: candidates.length });
  }
  const maxBytes = options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES;
  const kinds = nameMatchers(options.lockfiles ?? DEFAULT_LOCKFILES, options.generated ?? DEFAULT_GENERATED);
  const toRead: Candidate[] = [];
  for (const c of candidates) {
    if (kinds.lockfile(c.rel)) skipped.push({ path: c.display, reason: "lockfile" });
    else if (kinds.generated(c.rel)) skipped.push({ path: c.display, reason: "generated" });
    else if (c.size > rawByteLimit(c.rel, maxBytes)) skipped.push({ path: c.display, reason: "too-large", detail: `${c.size} bytes` });
    else toRead.push(c);
  }
  options.onSize?.(toRead.reduce((n, c) => n + c.size, 0));
  let readFiles = 0;
  let readBytes = 0;
  const read = await mapLimit(toRead, options.concurrency ?? 32, async (c): Promise<WorkspaceFile | SkippedFile> => {
    options.signal?.throwIfAborted();
    const edited = unsaved.get(c.abs);
    const got = edited === undefined ? await readFileText(c.abs, maxBytes, encodingFor(options, c.abs), c.encoding) : editorText(edited, c.abs, maxBytes);
    if (!("text" in got)) return { path: c.display, ...got };
    readBytes += got.bytes;
    if (++readFiles % 256 === 0) options.onProgress?.({ files: readFiles, bytes: readBytes, seen: candidates.length });
    return {
      path: c.display, absPath: c.abs, root: c.root, bytes: got.bytes, text: got.text, modifiedMs: c.modifiedMs,
      ...(got.decoded ? { decoded: got.decoded } : {}), ...(c.encoding ? { declaredEncoding: c.encoding } : {}),
      ...(edited === undefined ? {} : { unsaved: true as const }),
      ...(c.deleted ? { deleted: true as const } : edited !== undefined || got.excerpt ? { diskBytes: c.size } : {}),
      ...(got.excerpt ? { excerpt: got.excerpt } : {}),
    };
  });
  options.onProgress?.({ files: readFiles, bytes: readBytes, seen: candidates.length });
  const files: WorkspaceFile[] = [];
  for (const r of read) {
    if ("reason" in r) skipped.push(r);
    else files.push(r);
  }
  if (options.order === "recent-last") {
    const recent = Date.now() - RECENT_MS;
    // Whole seconds: files written together (a checkout, a save-all) keep their path order.
    // A file with unsaved changes is the newest of all: it is being edited now.
    const key = (f: WorkspaceFile): number => (f.unsaved ? Number.MAX_SAFE_INTEGER : f.modifiedMs < recent ? 0 : Math.floor(f.modifiedMs / 1000));
    files.sort((a, b) => key(a) - key(b) || compare(a.path, b.path));
  } else {
    files.sort((a, b) => compare(a.path, b.path));
  }
  skipped.sort((a, b) => compare(a.path, b.path));
  return { files, skipped, listings };
}

/** Leaves out what the editor hides, counting each hidden folder once (shown with a trailing "/"). */
async function withoutHidden(paths: string[], hiddenBy: ReturnType<typeof excludeMatcher>, display: (rel: string) => string, skipped: SkippedFile[]): Promise<string[]> {
  if (!hiddenBy) return paths;
  const verdicts = await mapLimit(paths, 32, async (rel) => ({ rel, hidden: await hiddenBy(rel) }));
  const reported = new Set<string>();
  const kept: string[] = [];
  for (const { rel, hidden } of verdicts) {
    if (!hidden) kept.push(rel);
    else if (!reported.has(hidden.path)) {
      reported.add(hidden.path);
      skipped.push({ path: display(hidden.path) + (hidden.path === rel ? "" : "/"), reason: "excluded", detail: hidden.why });
    }
  }
  return kept;
}

/**
 * Leaves out what .askcodebaseignore files say, at any level, tracked or not: a folder one of them
 * ignores takes everything in it along, as in git.
 */
async function withoutAskIgnored(root: string, paths: readonly string[]): Promise<string[]> {
  const sets = new Map<string, RuleSet>();
  for (const p of paths) {
    if (p !== IGNORE_FILE && !p.endsWith("/" + IGNORE_FILE)) continue;
    const base = p === IGNORE_FILE ? "" : p.slice(0, -IGNORE_FILE.length - 1);
    const set = ruleSet(base, [await readFile(join(root, ...p.split("/")), "utf8").catch(() => "")]);
    if (set) sets.set(base, set);
  }
  if (!sets.size) return [...paths];
  const stackFor = (dir: string): IgnoreStack => {
    const parts = dir ? dir.split("/") : [];
    const levels = [sets.get(""), ...parts.map((_, i) => sets.get(parts.slice(0, i + 1).join("/")))].filter((s): s is RuleSet => s !== undefined);
    return new IgnoreStack(levels);
  };
  const dirIgnored = new Map<string, boolean>();
  const ignoredDir = (dir: string): boolean => {
    if (!dir) return false;
    let known = dirIgnored.get(dir);
    if (known === undefined) {
      const parent = dir.includes("/") ? dir.slice(0, dir.lastIndexOf("/")) : "";
      known = ignoredDir(parent) || stackFor(parent).ignores(dir + "/");
      dirIgnored.set(dir, known);
    }
    return known;
  };
  return paths.filter((p) => {
    const dir = p.includes("/") ? p.slice(0, p.lastIndexOf("/")) : "";
    return !ignoredDir(dir) && !stackFor(dir).ignores(p);
  });
}

/** What a listed path is, from lstat alone: never opened unless it is a regular file (or a link to one inside the root). */
async function fileKind(abs: string, realRoot: string): Promise<{ size: number; mtimeMs: number } | { reason: SkipReason; detail?: string }> {
  let st: Stats;
  try {
    st = await lstat(abs);
  } catch (err) {
    const code = errorCode(err);
    // A name that is not UTF-8 (a Latin-1 name from an old system) reaches us with U+FFFD in
    // place of its bytes, and no file has that name: it cannot be opened, which is not "deleted".
    if (code === "ENOENT" && abs.includes("\ufffd")) return { reason: "unreadable", detail: "its name is not valid UTF-8" };
    // Tracked but deleted, or outside a sparse checkout: git lists it, there is nothing to read.
    return code === "ENOENT" ? { reason: "not-in-worktree" } : { reason: "unreadable", detail: code };
  }
  if (st.isSymbolicLink()) return followLink(abs, realRoot);
  if (st.isFile()) return { size: st.size, mtimeMs: st.mtimeMs };
  return { reason: "special-file", detail: specialKind(st) };
}

function specialKind(st: Stats): string {
  return st.isFIFO() ? "a FIFO" : st.isSocket() ? "a socket" : st.isCharacterDevice() ? "a character device" : st.isBlockDevice() ? "a block device" : st.isDirectory() ? "a folder" : "not a regular file";
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

/** A file's text as read, or why it is not read. */
type FileText = { text: string; bytes: number; decoded?: WorkspaceFile["decoded"]; excerpt?: string } | Omit<SkippedFile, "path">;

/**
 * A file's text (and how it was decoded, when not plain UTF-8), or why it is not read: unreadable,
 * too large (its size can change after the walk), binary, minified or generated.
 */
export async function readFileText(abs: string, maxBytes: number, encoding: string = DEFAULT_FALLBACK_ENCODING, declared?: string): Promise<FileText> {
  const data = isDataPath(abs);
  // A data file over the head's size, or over the cap when that is smaller, is read as its head.
  const rawLimit = data ? Math.min(DATA_HEAD_BYTES, maxBytes) : rawByteLimit(abs, maxBytes);
  let bytes: Buffer;
  let size: number;
  try {
    ({ bytes, size } = await readBounded(abs, rawLimit));
  } catch (err) {
    if (err instanceof NotRegular) return { reason: "special-file", detail: err.message };
    return { reason: "unreadable", detail: errorCode(err) };
  }
  if (bytes.length > rawLimit) return data ? dataHead(bytes.subarray(0, rawLimit), Math.max(size, bytes.length), encoding, declared) : { reason: "too-large", detail: `more than ${rawLimit} bytes` };
  const got = decodeFile(bytes, encoding, declared);
  if (!got) return { reason: "binary" };
  const checked = checkedText(got.text, abs, bytes.length, maxBytes);
  return "text" in checked ? { ...checked, ...decodedNote(got) } : checked;
}

/** How text reached by decodeFile was decoded, when that was not plain UTF-8. */
function decodedNote(got: { encoding: string; replaced: number }): { decoded?: WorkspaceFile["decoded"] } {
  return got.encoding === "utf-8" && !got.replaced ? {} : { decoded: { encoding: got.encoding, replaced: got.replaced } };
}

/** The first lines of a large data file (fileKinds.ts), and what they are a part of. */
function dataHead(head: Buffer, size: number, encoding: string, declared: string | undefined): FileText {
  const got = decodeFile(head, encoding, declared);
  if (!got) return { reason: "binary" };
  // The head's last line is cut short where the read stopped: only whole lines are kept.
  const lines = normalizeNewlines(got.text).split("\n").slice(0, -1).slice(0, DATA_HEAD_LINES);
  if (!lines.length) return { reason: "line-too-long", detail: `a data file whose first line is longer than ${head.length} bytes` };
  const text = lines.join("\n") + "\n";
  return {
    text, bytes: Buffer.byteLength(text, "utf8"), excerpt: `a data file of ${formatBytes(size)}, not read further`, ...decodedNote(got),
  };
}

/** An editor's text for a file, held to the rules the disk's is: size, kind, a notebook's cells. */
function editorText(text: string, abs: string, maxBytes: number): FileText {
  return checkedText(text, abs, Buffer.byteLength(text, "utf8"), maxBytes);
}

/** Decoded text as it is read: a notebook as its cells, lines broken alike, and not read if too large, minified, generated or a pointer. */
function checkedText(decoded: string, abs: string, bytes: number, maxBytes: number): { text: string; bytes: number } | Omit<SkippedFile, "path"> {
  const cells = isNotebookPath(abs) ? notebookText(decoded) : undefined;
  if (cells && cells.text.length > maxBytes) return { reason: "too-large", detail: `its cells hold more than ${maxBytes} characters` };
  if (!cells && bytes > maxBytes) return { reason: "too-large", detail: `more than ${maxBytes} bytes` };
  const text = cells?.text ?? normalizeNewlines(decoded);
  const verdict = textKind(text);
  if (verdict === "lfs-pointer") return { reason: verdict, detail: "its content is in Git LFS and not checked out (git lfs pull)" };
  if (verdict !== "text") return { reason: verdict };
  return { text, bytes };
}

class NotRegular extends Error {}

/**
 * At most `maxBytes + 1` bytes of a regular file, whatever size it reports (a /proc file says 0 and
 * keeps producing). Opened without blocking and checked again once open: a file swapped for a
 * FIFO after it was listed cannot hang the read.
 */
async function readBounded(abs: string, maxBytes: number): Promise<{ bytes: Buffer; size: number }> {
  const fh = await open(abs, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new NotRegular(specialKind(st));
    // The size it reports is where to start, not a bound: one byte more shows a file grew past it.
    let chunk = Buffer.alloc(Math.min(maxBytes + 1, st.size + 1));
    let length = 0;
    for (;;) {
      if (length === chunk.length) {
        if (chunk.length > maxBytes) break;
        const bigger = Buffer.alloc(Math.min(maxBytes + 1, chunk.length * 2 + 4096));
        chunk.copy(bigger, 0, 0, length);
        chunk = bigger;
      }
      const { bytesRead } = await fh.read(chunk, length, chunk.length - length, length);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    return { bytes: chunk.subarray(0, length), size: st.size };
  } finally {
    await fh.close();
  }
}

function errorCode(err: unknown): string {
  return (err as NodeJS.ErrnoException)?.code ?? String(err);
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
  if (!st.isFile()) return { reason: "special-file", detail: `a link to ${specialKind(st)}`, size: 0, mtimeMs: 0 };
  return { size: st.size, mtimeMs: st.mtimeMs };
}
