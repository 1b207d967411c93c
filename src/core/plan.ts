// What a question will read, before any model runs: files, tokens, segments, what was skipped.
// A plan made to run keeps every chunk's tokens, so the run reads and tokenizes nothing again;
// its segments' text is joined only when they are first asked for (a plan waiting on the user's
// confirmation holds each file's text once).
import { stat } from "node:fs/promises";
import { mapLimit } from "./concurrency";
import { buildSegment, checkBudget, layoutSegments, measureFile, DEFAULT_SEGMENT_TOKENS, type CountTokens, type Layout, type MeasuredFile, type PackedFile, type Segment, type TokenizeChunk } from "./pack/packer";
import { rankFiles } from "./pack/relevance";
import type { ListingInfo } from "./workspace/listing";
import type { WorkspaceFile } from "./workspace/reader";
import { countByReason, DEFAULT_MAX_FILE_BYTES, encodingFor, readFileText, readWorkspace, type ReadOptions, type SkippedFile, type SkipReason } from "./workspace/reader";

export interface PlanOptions extends ReadOptions {
  segmentTokens?: number;
  countTokens: CountTokens;
  /** Keep each chunk's tokens for the run (a plan only shown needs counts). */
  tokenize?: TokenizeChunk;
  /** A faster way to measure many files (helper processes); defaults to countTokens on each file in turn. */
  measureFiles?: (files: readonly WorkspaceFile[], budget: number, keepTokens: boolean) => Promise<MeasuredFile[]>;
}

/** A file as it was when read: if it has changed since, the plan reads it again before running. */
interface Stamp { absPath: string; size: number; modifiedMs: number; file: WorkspaceFile }

/** Why the files are read in the order they are: by path, or the likeliest first for a question. */
export interface ReadOrder { by: "path" | "relevance"; /** The question's terms that put the first files first. */ leading: string[]; /** Files that matched any term. */ matched: number }

/** What refresh() found: files changed since the plan (read again), and files gone (left out). */
export interface PlanChanges { changed: string[]; removed: string[] }

export class CodebasePlan {
  readonly roots: string[];
  readonly segmentTokens: number;
  files: PackedFile[] = [];
  skipped: SkippedFile[] = [];
  skippedByReason: Partial<Record<SkipReason, number>> = {};
  totalTokens = 0;
  bytes = 0;
  order: ReadOrder = { by: "path", leading: [], matched: 0 };
  /** Each file's score for the question readFirstFor was given. */
  private scores?: Map<string, number>;
  private layout!: Layout;
  private built?: Segment[];

  constructor(roots: readonly string[], segmentTokens: number, private measured: MeasuredFile[], private readonly readSkipped: SkippedFile[], private readonly stamps: Map<string, Stamp>,
    /** Who listed each folder, and what that could not see. */
    readonly listings: ListingInfo[] = []) {
    this.roots = [...roots];
    this.segmentTokens = segmentTokens;
    this.lay();
  }

  private lay(): void {
    this.layout = layoutSegments(this.measured, this.segmentTokens);
    this.built = undefined;
    this.files = this.layout.files;
    this.skipped = [...this.readSkipped, ...this.layout.skipped].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
    this.skippedByReason = countByReason(this.skipped);
    this.totalTokens = this.layout.totalTokens;
    this.bytes = this.files.reduce((n, f) => n + f.bytes, 0);
  }

  /**
   * Ranks the files for `question` (relevance.ts) without moving them: the segments keep the path
   * order, so that a codebase of several windows is packed into the same windows whatever the
   * question, and the warm cache holds each window's reading for the next question. The run reads
   * the window holding the likeliest files first (segmentScores).
   */
  readFirstFor(question: string): ReadOrder {
    const ranking = rankFiles(this.measured.map((m) => ({ path: m.path, text: this.fileText(m.path) ?? "" })), question);
    if (!ranking.matched) return this.readByPath();
    this.scores = ranking.scores;
    this.order = { by: "relevance", leading: ranking.leading, matched: ranking.matched };
    return this.order;
  }

  /** Each segment's likeliness to answer the question: its best file's score (none: path order). */
  get segmentScores(): number[] | undefined {
    const scores = this.scores;
    if (!scores) return undefined;
    return this.layout.groups.map((pieces) => Math.max(0, ...pieces.map((p) => scores.get(p.path) ?? 0)));
  }

  /** A planned file's text, as read. */
  fileText(path: string): string | undefined {
    return this.stamps.get(path)?.file.text;
  }

  /** Planned files not in plain UTF-8: how each was decoded. */
  get decoded(): { path: string; encoding: string; replaced: number }[] {
    return this.files.flatMap((f) => {
      const d = this.stamps.get(f.path)?.file.decoded;
      return d ? [{ path: f.path, ...d }] : [];
    });
  }

  /** How many planned files were decoded each way other than plain UTF-8 ("utf-8 with invalid bytes" for strays replaced). */
  get decodedByEncoding(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const d of this.decoded) {
      const key = d.encoding === "utf-8" ? "utf-8 with invalid bytes" : d.encoding;
      counts[key] = (counts[key] ?? 0) + 1;
    }
    return counts;
  }

  /** Planned large data files of which only the first lines are read. */
  get dataHeads(): string[] {
    return this.files.filter((f) => this.stamps.get(f.path)?.file.excerpt).map((f) => f.path);
  }

  /** Planned files read as an editor holds them, with changes not saved. */
  get unsaved(): string[] {
    return this.files.filter((f) => this.stamps.get(f.path)?.file.unsaved).map((f) => f.path);
  }

  /** Back to reading by path alone. */
  readByPath(): ReadOrder {
    this.scores = undefined;
    this.order = { by: "path", leading: [], matched: 0 };
    return this.order;
  }

  get segmentCount(): number {
    return this.layout.groups.length;
  }

  /** Each segment's tokens and sources, without joining its text (for listings). */
  get outline(): { tokens: number; sources: { path: string; startLine: number; endLine: number }[] }[] {
    return this.layout.groups.map((pieces) => ({
      tokens: pieces.reduce((n, p) => n + p.tokens, 0),
      sources: pieces.map((p) => ({ path: p.path, startLine: p.startLine, endLine: p.endLine })),
    }));
  }

  /** The segments, their text joined on first use. */
  get segments(): Segment[] {
    return (this.built ??= this.layout.groups.map((pieces, i) => buildSegment(i, pieces)));
  }

  /**
   * Checks every planned file against the disk: one that changed is read and measured again, one
   * that is gone is left out, and the segments are laid out anew. Files added since are not read:
   * what runs is what the user was shown, less what no longer exists.
   */
  async refresh(options: PlanOptions): Promise<PlanChanges> {
    const changes: PlanChanges = { changed: [], removed: [] };
    const checked = await mapLimit([...this.stamps.values()], 32, async (s) => ({ s, now: await stat(s.absPath).catch(() => undefined) }));
    const replaced = new Map<string, MeasuredFile | undefined>();
    for (const { s, now } of checked) {
      // Read from an editor because it was gone from the disk, and still gone: as planned.
      if (!now && s.file.deleted) continue;
      if (!now || !now.isFile()) {
        changes.removed.push(s.file.path);
        replaced.set(s.file.path, undefined);
      } else if (now.size !== s.size || now.mtimeMs !== s.modifiedMs) {
        const read = await readFileText(s.absPath, options.maxFileBytes ?? DEFAULT_MAX_FILE_BYTES, encodingFor(options, s.absPath), s.file.declaredEncoding);
        if (!("text" in read)) {
          changes.removed.push(s.file.path);
          replaced.set(s.file.path, undefined);
          continue;
        }
        changes.changed.push(s.file.path);
        const { decoded: _was, unsaved: _edited, deleted: _gone, diskBytes: _size, excerpt: _part, ...rest } = s.file;
        const file: WorkspaceFile = {
          ...rest, text: read.text, bytes: read.bytes, modifiedMs: now.mtimeMs, ...(read.decoded ? { decoded: read.decoded } : {}),
          ...(read.excerpt ? { excerpt: read.excerpt, diskBytes: now.size } : {}),
        };
        this.stamps.set(s.file.path, { ...s, size: now.size, modifiedMs: now.mtimeMs, file });
        const [measured] = options.measureFiles
          ? await options.measureFiles([file], this.segmentTokens, options.tokenize !== undefined)
          : [measureFile(file, this.segmentTokens, options.countTokens, options.tokenize)];
        replaced.set(s.file.path, measured);
      }
    }
    if (replaced.size) {
      this.measured = this.measured.flatMap((m) => (replaced.has(m.path) ? (replaced.get(m.path) ? [replaced.get(m.path)!] : []) : [m]));
      for (const path of changes.removed) this.stamps.delete(path);
      this.lay();
    }
    return changes;
  }
}

export async function planCodebase(roots: readonly string[], options: PlanOptions): Promise<CodebasePlan> {
  const segmentTokens = options.segmentTokens ?? DEFAULT_SEGMENT_TOKENS;
  checkBudget(segmentTokens);
  const read = await readWorkspace(roots, options);
  options.signal?.throwIfAborted();
  const keep = options.tokenize !== undefined;
  const measured = options.measureFiles
    ? await options.measureFiles(read.files, segmentTokens, keep)
    : read.files.map((f) => measureFile(f, segmentTokens, options.countTokens, options.tokenize));
  options.signal?.throwIfAborted();
  // A file read from an editor is stamped with the disk's size: saving it afterwards is a change.
  const stamps = new Map(read.files.map((f) => [f.path, { absPath: f.absPath, size: f.diskBytes ?? f.bytes, modifiedMs: f.modifiedMs, file: f }]));
  return new CodebasePlan(roots, segmentTokens, measured, read.skipped, stamps, read.listings);
}
