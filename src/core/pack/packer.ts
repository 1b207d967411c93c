// Packs files into token-budgeted segments. Each piece opens with a header naming its path and
// line range, so a margin can cite `path:line`; each segment keeps a map from its text back to
// (file, lines). A file larger than a segment is cut at line boundaries.
//
// A segment's tokens are its chunks' tokens in order (each piece's header, then its blocks of
// lines): each chunk is tokenized on its own, once, and the engine prefills exactly those tokens.
// A plan made to run keeps them (Segment.tokenIds), so the run tokenizes nothing again; a plan
// made to be shown only counts. Measuring is per file and can run in parallel; assigning pieces
// to segments is a cheap sequential pass.
import type { SkippedFile, WorkspaceFile } from "../workspace/reader";

export type CountTokens = (text: string) => number;
/** A chunk's tokens as the engine will prefill them. */
export type TokenizeChunk = (text: string) => Int32Array;

/** Both ways to measure a chunk, from one tokenizer: counting is cheaper when no tokens are kept. */
export interface ChunkTokenizer { count: CountTokens; tokens: TokenizeChunk }

export interface SourcePiece {
  path: string;
  /** 1-based, inclusive; 0..0 for an empty file. */
  startLine: number;
  endLine: number;
  /** Offsets into the segment's text: the header line, then the file's lines. */
  headerStart: number;
  start: number;
  end: number;
  tokens: number;
  /** Where each tokenization chunk ends (the header, then each block of lines), as offsets into the segment's text. */
  chunkEnds: number[];
}

export interface Segment {
  index: number;
  text: string;
  tokens: number;
  sources: SourcePiece[];
  /** The segment's tokens, chunk after chunk, when the plan kept them (see measureFile's `tokenize`). */
  tokenIds?: Int32Array;
}

export interface PackedFile { path: string; lines: number; bytes: number; tokens: number; pieces: number }

export interface PackResult { segments: Segment[]; files: PackedFile[]; skipped: SkippedFile[]; totalTokens: number }

export interface PackOptions { segmentTokens: number; countTokens: CountTokens; /** Keep each segment's tokens (Segment.tokenIds). */ tokenize?: TokenizeChunk }

/** Whole lines, ending with a newline, tokenized as one chunk; `ids` when the plan keeps tokens. */
export interface Block { text: string; lines: number; tokens: number; ids?: Int32Array }

export interface Piece { path: string; startLine: number; endLine: number; header: string; headerTokens: number; headerIds?: Int32Array; blocks: Block[]; tokens: number }

export type MeasuredFile =
  | { path: string; lines: number; bytes: number; pieces: Piece[] }
  | { path: string; skipped: SkippedFile };

export const DEFAULT_SEGMENT_TOKENS = 4096;
export const MIN_SEGMENT_TOKENS = 64;
/**
 * Blocks up to 4 KiB tokenize fastest here (llama.cpp's tokenizer slows on long inputs); a block
 * of at most half a budget's worth of characters keeps segments nearly full when a file is cut.
 */
const BLOCK_CHARS = 4096;

/** Path text that cannot break the header line or smuggle in control characters. */
export function headerPath(path: string): string {
  return path.replace(/[\u0000-\u001f\u007f\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

/** `excerpt`: what the lines read are the start of, when they are not the whole file (a large data file). */
export function pieceHeader(path: string, startLine: number, endLine: number, totalLines: number, excerpt?: string): string {
  if (totalLines === 0) return `### ${headerPath(path)} (empty)\n`;
  const partial = excerpt ? ` of ${excerpt}` : startLine !== 1 || endLine !== totalLines ? ` of ${totalLines}` : "";
  return `### ${headerPath(path)} (lines ${startLine}-${endLine}${partial})\n`;
}

/** The file's lines; a final newline does not start another line. */
export function splitLines(text: string): string[] {
  if (text === "") return [];
  const lines = text.split("\n");
  if (lines[lines.length - 1] === "") lines.pop();
  return lines;
}

/**
 * A file's lines as offsets into its text (the same lines as splitLines). Blocks are cut as
 * slices of the text, which V8 keeps as views of it: joining split lines copied every file
 * once more, 49 MB on a 3,600-file repository, alive beside the texts while planning.
 */
export class FileLines {
  /** Where each line starts, then the text's length. */
  private readonly starts: number[] = [0];

  constructor(private readonly text: string) {
    for (let at = text.indexOf("\n"); at >= 0 && at + 1 < text.length; at = text.indexOf("\n", at + 1)) this.starts.push(at + 1);
    if (text !== "") this.starts.push(text.length);
  }

  get count(): number {
    return this.starts.length - 1;
  }

  /** Line i's length, its newline left out. */
  length(i: number): number {
    const end = this.starts[i + 1]!;
    return end - this.starts[i]! - (this.text.charCodeAt(end - 1) === 10 ? 1 : 0);
  }

  /** Lines from..to-1, each ending in a newline (the last gets one when the file has none). */
  slice(from: number, to: number): string {
    const s = this.text.slice(this.starts[from], this.starts[to]);
    return s.endsWith("\n") ? s : s + "\n";
  }
}

export function checkBudget(budget: number): void {
  if (!(Number.isInteger(budget) && budget >= MIN_SEGMENT_TOKENS)) throw new RangeError(`segment tokens must be a whole number of at least ${MIN_SEGMENT_TOKENS}, got ${budget}`);
}

export function packFiles(files: readonly Pick<WorkspaceFile, "path" | "text" | "bytes">[], options: PackOptions): PackResult {
  checkBudget(options.segmentTokens);
  return assignSegments(files.map((f) => measureFile(f, options.segmentTokens, options.countTokens, options.tokenize)), options.segmentTokens);
}

/**
 * Tokenizes one file into pieces that each fit a segment: its lines are grouped into blocks, each
 * block counted once, and pieces are runs of whole blocks under a header naming their lines.
 * With `tokenize`, blocks and headers keep their tokens, for the segments to carry into the run.
 */
export function measureFile(file: Pick<WorkspaceFile, "path" | "text" | "bytes" | "excerpt">, budget: number, count: CountTokens, tokenize?: TokenizeChunk): MeasuredFile {
  const lines = new FileLines(file.text);
  const total = lines.count;
  const blocks = toBlocks(lines, Math.min(BLOCK_CHARS, budget / 2), budget, count, tokenize);
  if (!blocks) return { path: file.path, skipped: { path: file.path, reason: "line-too-long", detail: `a line longer than ${budget} tokens` } };
  const piece = (first: number, taken: Block[]): Piece => {
    const lineCount = taken.reduce((n, b) => n + b.lines, 0);
    const header = pieceHeader(file.path, total ? first : 0, total ? first + lineCount - 1 : 0, total, file.excerpt);
    const headerIds = tokenize?.(header);
    const headerTokens = headerIds ? headerIds.length : count(header);
    return {
      path: file.path, startLine: total ? first : 0, endLine: total ? first + lineCount - 1 : 0, header, headerTokens, ...(headerIds ? { headerIds } : {}),
      blocks: taken, tokens: headerTokens + taken.reduce((n, b) => n + b.tokens, 0),
    };
  };
  const whole = piece(1, blocks);
  if (whole.tokens <= budget) return { path: file.path, lines: total, bytes: file.bytes, pieces: [whole] };
  // The longest header this file can have, so a run of blocks chosen under it always fits.
  const headerReserve = count(pieceHeader(file.path, total, total, total, file.excerpt)) + 2;
  const pieces: Piece[] = [];
  let first = 1;
  let run: Block[] = [];
  let used = headerReserve;
  const close = (): void => {
    let p = piece(first, run);
    const carried: Block[] = [];
    while (p.tokens > budget && run.length > 1) {
      carried.unshift(run.pop()!);
      p = piece(first, run);
    }
    if (p.tokens > budget) throw new Error(`${file.path}: a block does not fit its segment`);
    pieces.push(p);
    first = p.endLine + 1;
    run = carried;
    used = headerReserve + carried.reduce((n, b) => n + b.tokens, 0);
  };
  for (const block of blocks) {
    if (run.length && used + block.tokens > budget) close();
    run.push(block);
    used += block.tokens;
  }
  while (run.length) close();
  return { path: file.path, lines: total, bytes: file.bytes, pieces };
}

/** Groups lines into blocks of at most `chars` characters; a block over `budget` tokens is split further. */
function toBlocks(lines: FileLines, chars: number, budget: number, count: CountTokens, tokenize?: TokenizeChunk): Block[] | undefined {
  const blocks: Block[] = [];
  const add = (from: number, to: number): boolean => {
    const text = lines.slice(from, to);
    const ids = tokenize?.(text);
    const tokens = ids ? ids.length : count(text);
    // Leave room for a header: a block must fit a segment beside one.
    if (tokens <= budget * 0.75) {
      blocks.push({ text, lines: to - from, tokens, ...(ids ? { ids } : {}) });
      return true;
    }
    if (to - from === 1) return false;
    const mid = from + ((to - from) >> 1);
    return add(from, mid) && add(mid, to);
  };
  let from = 0;
  let size = 0;
  for (let i = 0; i < lines.count; i++) {
    const len = lines.length(i) + 1;
    if (i > from && size + len > chars) {
      if (!add(from, i)) return undefined;
      from = i;
      size = 0;
    }
    size += len;
  }
  if (from < lines.count && !add(from, lines.count)) return undefined;
  return blocks;
}

/** Where each piece goes, before any segment's text is joined: files in order, pieces in order, a new segment when the next piece would not fit. */
export interface Layout { files: PackedFile[]; skipped: SkippedFile[]; totalTokens: number; groups: Piece[][] }

export function layoutSegments(measured: readonly MeasuredFile[], budget: number): Layout {
  const groups: Piece[][] = [];
  const files: PackedFile[] = [];
  const skipped: SkippedFile[] = [];
  let current: Piece[] = [];
  let used = 0;
  let totalTokens = 0;
  const flush = (): void => {
    if (current.length) groups.push(current);
    current = [];
    used = 0;
  };
  for (const m of measured) {
    if ("skipped" in m) {
      skipped.push(m.skipped);
      continue;
    }
    let tokens = 0;
    for (const piece of m.pieces) {
      if (used + piece.tokens > budget) flush();
      current.push(piece);
      used += piece.tokens;
      tokens += piece.tokens;
    }
    totalTokens += tokens;
    files.push({ path: m.path, lines: m.lines, bytes: m.bytes, tokens, pieces: m.pieces.length });
  }
  flush();
  return { files, skipped, totalTokens, groups };
}

export function assignSegments(measured: readonly MeasuredFile[], budget: number): PackResult {
  const layout = layoutSegments(measured, budget);
  return { segments: layout.groups.map((pieces, i) => buildSegment(i, pieces)), files: layout.files, skipped: layout.skipped, totalTokens: layout.totalTokens };
}

/** A segment's text, its map back to the files, and its tokens when its pieces kept them. */
export function buildSegment(index: number, pieces: readonly Piece[]): Segment {
  let text = "";
  let tokens = 0;
  const sources: SourcePiece[] = [];
  for (const p of pieces) {
    const headerStart = text.length;
    text += p.header;
    const start = text.length;
    const chunkEnds = [start];
    for (const b of p.blocks) {
      text += b.text;
      chunkEnds.push(text.length);
    }
    tokens += p.tokens;
    sources.push({ path: p.path, startLine: p.startLine, endLine: p.endLine, headerStart, start, end: text.length, tokens: p.tokens, chunkEnds });
  }
  const kept = pieces.every((p) => p.headerIds && p.blocks.every((b) => b.ids));
  return { index, text, tokens, sources, ...(kept ? { tokenIds: joinIds(pieces, tokens) } : {}) };
}

function joinIds(pieces: readonly Piece[], tokens: number): Int32Array {
  const out = new Int32Array(tokens);
  let at = 0;
  for (const p of pieces) {
    out.set(p.headerIds!, at);
    at += p.headerIds!.length;
    for (const b of p.blocks) {
      out.set(b.ids!, at);
      at += b.ids!.length;
    }
  }
  return out;
}

/**
 * The texts a segment is tokenized in, in order: each piece's header, then its blocks of lines.
 * Each is tokenized on its own, as the packer counted it, so a segment's tokens are exactly the sum.
 */
export function segmentChunks(segment: Segment): string[] {
  const chunks: string[] = [];
  for (const s of segment.sources) {
    let from = s.headerStart;
    for (const end of s.chunkEnds) {
      chunks.push(segment.text.slice(from, end));
      from = end;
    }
  }
  return chunks;
}

/** Maps an offset in a segment's text back to the file and 1-based line it came from. */
export function locate(segment: Segment, offset: number): { path: string; line: number } | undefined {
  for (const s of segment.sources) {
    if (offset < s.headerStart || offset >= s.end) continue;
    if (offset < s.start) return { path: s.path, line: s.startLine };
    let line = s.startLine;
    for (let i = s.start; i < offset; i++) if (segment.text.charCodeAt(i) === 10) line++;
    return { path: s.path, line };
  }
  return undefined;
}
