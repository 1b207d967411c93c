// Counts a codebase's tokens while tokenizing only a few percent of it.
//
// llama.cpp's SentencePiece tokenizer starts from single characters and merges neighbours only
// into vocabulary tokens. So two characters that sit side by side in no vocabulary token can
// never end up in one token: text cut between them tokenizes as its parts do, exactly. Cut at
// every such place, source code falls into pieces (words, runs of indentation, punctuation) that
// repeat endlessly: 49 MB of Python and Perl here is 16.6 million pieces but only 214 thousand
// distinct ones. Each distinct piece is counted once (spmCount.ts) and remembered.
//
// Byte-level BPE merges differently, but never across the words its pre-tokenizer cuts text into:
// bpeCuts.ts finds where Qwen2's always cuts. Where a vocabulary makes either argument unsafe
// (another pre-tokenizer, user-defined tokens in SentencePiece, which llama.cpp splits out of raw
// text before merging even with special tokens off), callers tokenize whole chunks as before.

import type { Vocabulary } from "./ggufVocab";
import { Qwen2Cuts } from "./bpeCuts";
import { spmCounter } from "./spmCount";

/** Token texts llama.cpp marks user-defined on load whatever the file says (its gpt-oss handling). */
const FORCED_USER_DEFINED = new Set(["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>", "<|end|>"]);
const USER_DEFINED = 4;
/** SentencePiece's space: llama.cpp writes every " " as this before merging. */
const SPACE_MARK = 0x2581;
const NEWLINE = 10;
/** Above this many characters in multi-character tokens, pairs go in a Set rather than a bitmap. */
const BITMAP_ALPHABET = 4096;

/** Where text may be cut: the scan maps each character to a class, and asks of each neighbouring pair. */
export interface Cuts {
  /** The character's class; 0 for a character the rule knows nothing of. */
  indexOf(cp: number): number;
  /** Whether text must not be cut between characters of these classes. */
  joined(left: number, right: number): boolean;
}

/** For SentencePiece: cut between two characters that no vocabulary token holds side by side. */
export class CutRule implements Cuts {
  /** 1-based index of each BMP character that appears in some multi-character token; 0 elsewhere. */
  private readonly bmp = new Uint16Array(65536);
  private readonly astral = new Map<number, number>();
  private readonly size: number;
  private readonly bitmap: Uint8Array | undefined;
  private readonly pairSet: Set<number> | undefined;

  constructor(tokens: readonly string[]) {
    let size = 0;
    const index = (cp: number): number => {
      const known = cp < 65536 ? this.bmp[cp]! : this.astral.get(cp) ?? 0;
      if (known) return known;
      size++;
      if (cp < 65536) this.bmp[cp] = size;
      else this.astral.set(cp, size);
      return size;
    };
    const pairs: [number, number][] = [];
    for (const token of tokens) {
      const cps = Array.from(token, (c) => c.codePointAt(0)!);
      for (let i = 1; i < cps.length; i++) pairs.push([index(cps[i - 1]!), index(cps[i]!)]);
    }
    if (size >= 65535) throw new RangeError("vocabulary alphabet too large");
    this.size = size;
    const stride = size + 1;
    if (size <= BITMAP_ALPHABET) {
      this.bitmap = new Uint8Array(Math.ceil((stride * stride) / 8));
      for (const [a, b] of pairs) { const k = a * stride + b; this.bitmap[k >> 3]! |= 1 << (k & 7); }
    } else {
      this.pairSet = new Set(pairs.map(([a, b]) => a * stride + b));
    }
  }

  /** The character's index in the rule's alphabet, 0 when no multi-character token holds it. */
  indexOf(cp: number): number {
    if (cp === 32) cp = SPACE_MARK;
    return cp < 65536 ? this.bmp[cp]! : this.astral.get(cp) ?? 0;
  }

  /** Whether a token could hold the two characters (by alphabet index) side by side. */
  joined(a: number, b: number): boolean {
    if (a === 0 || b === 0) return false;
    const k = a * (this.size + 1) + b;
    return this.bitmap ? (this.bitmap[k >> 3]! & (1 << (k & 7))) !== 0 : this.pairSet!.has(k);
  }
}

/**
 * The cut rule for a vocabulary, or why it has none. The newline must be in no multi-character
 * token: chunks are tokenized as continuations after a newline (chunkTokenizer), which then adds
 * exactly its own tokens.
 */
export function cutRuleFor(vocab: Vocabulary): { rule: CutRule } | { why: string } {
  if (vocab.model !== "llama") return { why: `a ${vocab.model} tokenizer, not SentencePiece` };
  const userDefined = vocab.tokens.findIndex((t, i) => vocab.types[i] === USER_DEFINED || FORCED_USER_DEFINED.has(t));
  if (userDefined >= 0) return { why: `user-defined token ${JSON.stringify(vocab.tokens[userDefined])}` };
  // A token whose bytes are not UTF-8 reads back with U+FFFD in their place, and would then seem
  // to match text that llama.cpp, comparing bytes, does not match.
  if (vocab.tokens.some((t) => t.includes("\ufffd"))) return { why: "a token that is not valid UTF-8" };
  const rule = new CutRule(vocab.tokens);
  if (rule.indexOf(NEWLINE) !== 0) return { why: "a token joins a newline to other text" };
  return { rule };
}

/** Tokens of a piece, tokenized where nothing joins it to its neighbours. */
export type CountPiece = (piece: string) => number;

/** Longer pieces are counted each time: they rarely repeat, and would fill the memory. */
const MAX_CACHED_LENGTH = 64;
const MAX_ENTRIES = 1 << 19;
const INITIAL_SLOTS = 1 << 16;
const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193;

/** Sums the tokens of a text's pieces; a piece seen before costs a hash lookup. */
export class PieceCounter {
  private hashes = new Int32Array(INITIAL_SLOTS);
  private counts = new Int32Array(INITIAL_SLOTS);
  private texts: (string | undefined)[] = new Array(INITIAL_SLOTS);
  private entries = 0;
  /** Counts of one-character pieces (punctuation, a space) by code unit, -1 until known: no hashing. */
  private readonly single = new Int32Array(65536).fill(-1);
  /** Pieces met, and pieces counted (with their characters), for benchmarks. */
  readonly stats = { pieces: 0, counted: 0, countedChars: 0 };

  /**
   * `countFirst`, where given, counts each text's first piece: a chunk's first piece follows a
   * newline that a BPE pre-tokenizer may join to it (chunkTokenizer), so it is not remembered.
   */
  constructor(private readonly rule: Cuts, private readonly countPiece: CountPiece, private readonly countFirst?: CountPiece) {}

  count(text: string): number {
    // The scan keeps its state in locals: it runs once per character of a whole codebase.
    const rule = this.rule;
    let total = 0;
    let start = 0;
    let hash = FNV_OFFSET;
    let prev = 0;
    let first = this.countFirst !== undefined;
    for (let i = 0; i < text.length; i++) {
      let cp = text.charCodeAt(i);
      const at = i;
      if (cp >= 0xd800 && cp < 0xdc00 && i + 1 < text.length) {
        const low = text.charCodeAt(i + 1);
        if (low >= 0xdc00 && low < 0xe000) { cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00); i++; }
      }
      // A lone surrogate reaches llama.cpp as U+FFFD (Node's UTF-8 encoding), so it is one here.
      if (cp >= 0xd800 && cp < 0xe000) cp = 0xfffd;
      const index = rule.indexOf(cp);
      if (at > start && !rule.joined(prev, index)) {
        total += first ? this.counted(text.slice(start, at), this.countFirst!) : this.piece(text, start, at, hash);
        first = false;
        start = at;
        hash = FNV_OFFSET;
      }
      hash = Math.imul(hash ^ cp, FNV_PRIME);
      prev = index;
    }
    if (text.length > start) total += first ? this.counted(text.slice(start), this.countFirst!) : this.piece(text, start, text.length, hash);
    return total;
  }

  private piece(text: string, start: number, end: number, hash: number): number {
    this.stats.pieces++;
    const length = end - start;
    const unit = length === 1 ? text.charCodeAt(start) : -1;
    if (unit >= 0 && this.single[unit]! >= 0) return this.single[unit]!;
    if (length > MAX_CACHED_LENGTH || this.entries >= MAX_ENTRIES) return this.counted(text.slice(start, end));
    const slot = this.find(hash, text, start, length);
    if (this.texts[slot] !== undefined) return this.counts[slot]!;
    const piece = text.slice(start, end);
    const n = this.counted(piece);
    this.texts[slot] = piece;
    this.hashes[slot] = hash;
    this.counts[slot] = n;
    if (unit >= 0) this.single[unit] = n;
    if (++this.entries * 2 > this.hashes.length) this.grow();
    return n;
  }

  private counted(piece: string, count = this.countPiece): number {
    this.stats.counted++;
    this.stats.countedChars += piece.length;
    return count(piece);
  }

  /** The slot holding this piece, or the empty slot where it belongs. */
  private find(hash: number, text: string, start: number, length: number): number {
    const mask = this.hashes.length - 1;
    for (let slot = hash & mask; ; slot = (slot + 1) & mask) {
      const held = this.texts[slot];
      if (held === undefined) return slot;
      if (this.hashes[slot] !== hash || held.length !== length) continue;
      let same = true;
      for (let k = 0; k < length; k++) if (held.charCodeAt(k) !== text.charCodeAt(start + k)) { same = false; break; }
      if (same) return slot;
    }
  }

  private grow(): void {
    const { hashes, counts, texts } = this;
    const size = hashes.length * 2;
    this.hashes = new Int32Array(size);
    this.counts = new Int32Array(size);
    this.texts = new Array(size);
    const mask = size - 1;
    for (let i = 0; i < hashes.length; i++) {
      const held = texts[i];
      if (held === undefined) continue;
      let slot = hashes[i]! & mask;
      while (this.texts[slot] !== undefined) slot = (slot + 1) & mask;
      this.hashes[slot] = hashes[i]!;
      this.counts[slot] = counts[i]!;
      this.texts[slot] = held;
    }
  }
}

/**
 * How a vocabulary's tokens can be counted by pieces, or why they cannot (the caller then
 * tokenizes whole chunks). "spm": from the vocabulary alone. "bpe": cuts known, each distinct
 * piece tokenized by llama.cpp; a chunk holding a user-defined token's text is tokenized whole,
 * since llama.cpp splits those out before its pre-tokenizer runs.
 */
export function countingFor(vocab: Vocabulary): { spm: PieceCounter } | { bpe: Cuts; userDefined: string[] } | { why: string } {
  if (vocab.model === "gpt2") {
    if (vocab.pre !== "qwen2") return { why: `the ${vocab.pre ?? "default"} pre-tokenizer` };
    const userDefined = vocab.tokens.filter((t, i) => vocab.types[i] === USER_DEFINED || FORCED_USER_DEFINED.has(t));
    return { bpe: new Qwen2Cuts(), userDefined };
  }
  const cut = cutRuleFor(vocab);
  if ("why" in cut) return cut;
  const spm = spmCounter(vocab);
  if ("why" in spm) return spm;
  return { spm: new PieceCounter(cut.rule, spm.count) };
}
