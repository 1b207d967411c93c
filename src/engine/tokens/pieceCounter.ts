// Tokenizes a codebase while running the tokenizer on only a few percent of it.
//
// llama.cpp's SentencePiece tokenizer starts from single characters and merges neighbours only
// into vocabulary tokens. So two characters that sit side by side in no vocabulary token can
// never end up in one token: text cut between them tokenizes as its parts do, exactly. Cut at
// every such place, source code falls into pieces (words, runs of indentation, punctuation) that
// repeat endlessly: 49 MB of Python and Perl here is 16.6 million pieces but only 214 thousand
// distinct ones. Each distinct piece is tokenized once (spmCount.ts) and its tokens remembered:
// a text's tokens are its pieces' tokens one after another, and its count their sum.
//
// Byte-level BPE merges differently, but never across the words its pre-tokenizer cuts text into:
// bpePieces.ts finds where Qwen2's and Llama 3's pre-tokenizers always cut. Where a vocabulary
// makes either argument unsafe (another pre-tokenizer, user-defined tokens in SentencePiece, which
// llama.cpp splits out of raw text before merging even with special tokens off), callers tokenize
// whole chunks as before.

import type { Vocabulary } from "./ggufVocab";
import { spmTokenizer } from "./spmCount";

/** The BPE pre-tokenizers whose cuts bpePieces.ts knows, by their GGUF names. */
export type BpePre = "qwen2" | "llama-bpe";
const BPE_PRES: readonly string[] = ["qwen2", "llama-bpe"] satisfies BpePre[];

/** Token texts llama.cpp marks user-defined on load whatever the file says (its gpt-oss handling). */
const FORCED_USER_DEFINED = new Set(["<|channel|>", "<|message|>", "<|start|>", "<|constrain|>", "<|end|>"]);
const USER_DEFINED = 4;
const userDefined = (vocab: Vocabulary, i: number): boolean => vocab.types[i] === USER_DEFINED || FORCED_USER_DEFINED.has(vocab.tokens[i]!);
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
  const first = vocab.tokens.findIndex((_, i) => userDefined(vocab, i));
  if (first >= 0) return { why: `user-defined token ${JSON.stringify(vocab.tokens[first])}` };
  // A token whose bytes are not UTF-8 reads back with U+FFFD in their place, and would then seem
  // to match text that llama.cpp, comparing bytes, does not match.
  if (vocab.tokens.some((t) => t.includes("\ufffd"))) return { why: "a token that is not valid UTF-8" };
  const rule = new CutRule(vocab.tokens);
  if (rule.indexOf(NEWLINE) !== 0) return { why: "a token joins a newline to other text" };
  return { rule };
}

/** Each piece's tokens, each piece tokenized where nothing joins it to its neighbours. */
export type TokenizePieces = (pieces: readonly string[]) => ArrayLike<number>[];

/** Longer pieces are tokenized each time: they rarely repeat, and would fill the memory. */
const MAX_CACHED_LENGTH = 64;
const MAX_ENTRIES = 1 << 19;
const MAX_FIRSTS = 1 << 16;
const INITIAL_SLOTS = 1 << 16;
const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 0x01000193;

/**
 * A text's tokens, assembled from its pieces' tokens: a piece seen before costs a hash lookup; a
 * text's new pieces are tokenized together, in one call (one call into llama.cpp for BPE, rather
 * than one a piece), and kept. count() sums the pieces' lengths without assembling anything.
 */
export class PieceTokenizer {
  private hashes = new Int32Array(INITIAL_SLOTS);
  /** A piece's token count; while this text's new pieces wait to be tokenized, -1 - their place in `waiting`. */
  private counts = new Int32Array(INITIAL_SLOTS);
  /** Where a piece's tokens start in `pool`. */
  private offsets = new Int32Array(INITIAL_SLOTS);
  private texts: (string | undefined)[] = new Array(INITIAL_SLOTS);
  private entries = 0;
  /** Every kept piece's tokens, one after another. */
  private pool = new Int32Array(INITIAL_SLOTS);
  private poolUsed = 0;
  /** Counts of one-character pieces (punctuation, a space) by code unit, -1 until known: no hashing. */
  private readonly single = new Int32Array(65536).fill(-1);
  private readonly singleSlot = new Int32Array(65536);
  /** This text's new pieces (their slots) and how often each occurred; its pieces too long to keep, and their tokens once known. */
  private waiting: number[] = [];
  private times: number[] = [];
  private uncached: string[] = [];
  private uncachedTokens: ArrayLike<number>[] = [];
  /** First pieces' tokens, kept apart: they are tokenized as continuations. */
  private readonly firsts = new Map<string, ArrayLike<number>>();
  private firstTokens: ArrayLike<number> | undefined;
  /** tokens(): each piece's place, in order (a slot, or -1 - its index among the uncached). */
  private refs = new Int32Array(1024);
  private refCount = 0;
  /** Pieces met, and pieces tokenized (with their characters), for benchmarks. */
  readonly stats = { pieces: 0, counted: 0, countedChars: 0 };

  /**
   * `tokenizeFirst`, where given, tokenizes each text's first piece: a chunk's first piece follows
   * a newline that a BPE pre-tokenizer may join to it (chunkTokenizer), so it is remembered apart.
   */
  /**
   * With `countOnly`, pieces keep their counts but not their tokens (tokens() then throws): planning
   * that only shows figures holds 10 MB less on a 49 MB codebase.
   */
  constructor(private readonly rule: Cuts, private readonly tokenizePieces: TokenizePieces, private readonly tokenizeFirst?: (piece: string) => ArrayLike<number>, private readonly countOnly = false) {}

  count(text: string): number {
    let total = this.scan(text);
    if (this.waiting.length || this.uncached.length) total += this.resolve();
    this.uncachedTokens = [];
    this.firstTokens = undefined;
    return total;
  }

  /** The text's tokens, exactly as its pieces' tokens follow one another. */
  tokens(text: string): Int32Array {
    if (this.countOnly) throw new Error("this piece tokenizer keeps counts only");
    this.refCount = 0;
    let length = this.scan(text, true);
    if (this.waiting.length || this.uncached.length) length += this.resolve();
    const out = new Int32Array(length);
    let at = 0;
    const first = this.firstTokens;
    if (first) for (let i = 0; i < first.length; i++) out[at++] = first[i]!;
    const { refs, counts, offsets, pool } = this;
    for (let r = 0; r < this.refCount; r++) {
      const ref = refs[r]!;
      if (ref >= 0) {
        // A loop, not pool.subarray(): a view allocated for each of millions of pieces cost more than the copy.
        for (let i = offsets[ref]!, end = i + counts[ref]!; i < end; i++) out[at++] = pool[i]!;
      } else {
        const t = this.uncachedTokens[-1 - ref]!;
        for (let i = 0; i < t.length; i++) out[at++] = t[i]!;
      }
    }
    this.firstTokens = undefined;
    this.uncachedTokens = [];
    return out;
  }

  /**
   * Cuts the text into pieces and sums the tokens of those already known; new ones are queued for
   * resolve(). With `keepRefs`, each piece's place goes into `refs` (a slot, or -1 - its index
   * among the uncached).
   */
  private scan(text: string, keepRefs = false): number {
    // The scan keeps its state in locals: it runs once per character of a whole codebase.
    const rule = this.rule;
    let total = 0;
    let start = 0;
    let hash = FNV_OFFSET;
    let prev = 0;
    let first = this.tokenizeFirst !== undefined;
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
        total += first ? this.first(text.slice(start, at)) : this.piece(text, start, at, hash, keepRefs);
        first = false;
        start = at;
        hash = FNV_OFFSET;
      }
      hash = Math.imul(hash ^ cp, FNV_PRIME);
      prev = index;
    }
    if (text.length > start) total += first ? this.first(text.slice(start)) : this.piece(text, start, text.length, hash, keepRefs);
    return total;
  }

  private first(piece: string): number {
    let tokens = this.firsts.get(piece);
    if (tokens === undefined) {
      this.stats.counted++;
      this.stats.countedChars += piece.length;
      tokens = this.tokenizeFirst!(piece);
      if (this.firsts.size < MAX_FIRSTS && piece.length <= MAX_CACHED_LENGTH) this.firsts.set(piece, tokens);
    }
    this.firstTokens = tokens;
    return tokens.length;
  }

  /** The piece's token count when known; otherwise 0, and the piece waits to be tokenized with the rest. */
  private piece(text: string, start: number, end: number, hash: number, keepRefs: boolean): number {
    this.stats.pieces++;
    const length = end - start;
    const unit = length === 1 ? text.charCodeAt(start) : -1;
    if (unit >= 0 && this.single[unit]! >= 0) {
      if (keepRefs) this.ref(this.singleSlot[unit]!);
      return this.single[unit]!;
    }
    if (length > MAX_CACHED_LENGTH || this.entries >= MAX_ENTRIES) {
      if (keepRefs) this.ref(-1 - this.uncached.length);
      this.uncached.push(text.slice(start, end));
      return 0;
    }
    const slot = this.find(hash, text, start, length);
    if (keepRefs) this.ref(slot);
    if (this.texts[slot] !== undefined) {
      const n = this.counts[slot]!;
      if (n < 0) { this.times[-n - 1]!++; return 0; }
      if (unit >= 0) { this.single[unit] = n; this.singleSlot[unit] = slot; }
      return n;
    }
    this.texts[slot] = text.slice(start, end);
    this.hashes[slot] = hash;
    this.counts[slot] = -1 - this.waiting.length;
    this.waiting.push(slot);
    this.times.push(1);
    if (++this.entries * 2 > this.hashes.length) {
      // Growing moves slots: the text's references so far are remapped with them.
      const moved = this.grow();
      if (keepRefs) for (let i = 0; i < this.refCount; i++) if (this.refs[i]! >= 0) this.refs[i] = moved[this.refs[i]!]!;
    }
    return 0;
  }

  private ref(r: number): void {
    if (this.refCount === this.refs.length) {
      const bigger = new Int32Array(this.refs.length * 2);
      bigger.set(this.refs);
      this.refs = bigger;
    }
    this.refs[this.refCount++] = r;
  }

  /** Tokenizes the text's new pieces in one call, keeps their tokens, and returns how many they add up to. */
  private resolve(): number {
    const { waiting, times, uncached } = this;
    this.waiting = [];
    this.times = [];
    this.uncached = [];
    const pieces = [...waiting.map((slot) => this.texts[slot]!), ...uncached];
    let made: ArrayLike<number>[];
    try {
      made = this.tokenizePieces(pieces);
    } catch (err) {
      // Entries left waiting for their tokens would poison later texts: start again, empty.
      this.clear();
      throw err;
    }
    let total = 0;
    waiting.forEach((slot, i) => {
      const tokens = made[i]!;
      this.keep(slot, tokens);
      total += tokens.length * times[i]!;
    });
    this.uncachedTokens = made.slice(waiting.length);
    for (const t of this.uncachedTokens) total += t.length;
    this.stats.counted += pieces.length;
    this.stats.countedChars += pieces.reduce((n, p) => n + p.length, 0);
    return total;
  }

  private keep(slot: number, tokens: ArrayLike<number>): void {
    this.counts[slot] = tokens.length;
    if (this.countOnly) return;
    if (this.poolUsed + tokens.length > this.pool.length) {
      const bigger = new Int32Array(Math.max(this.pool.length * 2, this.poolUsed + tokens.length));
      bigger.set(this.pool.subarray(0, this.poolUsed));
      this.pool = bigger;
    }
    this.pool.set(tokens, this.poolUsed);
    this.offsets[slot] = this.poolUsed;
    this.poolUsed += tokens.length;
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

  private clear(): void {
    this.hashes = new Int32Array(INITIAL_SLOTS);
    this.counts = new Int32Array(INITIAL_SLOTS);
    this.offsets = new Int32Array(INITIAL_SLOTS);
    this.texts = new Array(INITIAL_SLOTS);
    this.entries = 0;
    this.poolUsed = 0;
    this.single.fill(-1);
    this.firsts.clear();
    this.firstTokens = undefined;
    this.uncachedTokens = [];
  }

  /** Doubles the table; pieces waiting for their tokens follow their entries. Returns where each old slot went. */
  private grow(): Int32Array {
    const { hashes, counts, offsets, texts } = this;
    const size = hashes.length * 2;
    this.hashes = new Int32Array(size);
    this.counts = new Int32Array(size);
    this.offsets = new Int32Array(size);
    this.texts = new Array(size);
    const moved = new Int32Array(hashes.length).fill(-1);
    const mask = size - 1;
    for (let i = 0; i < hashes.length; i++) {
      const held = texts[i];
      if (held === undefined) continue;
      let slot = hashes[i]! & mask;
      while (this.texts[slot] !== undefined) slot = (slot + 1) & mask;
      this.hashes[slot] = hashes[i]!;
      this.counts[slot] = counts[i]!;
      this.offsets[slot] = offsets[i]!;
      this.texts[slot] = held;
      moved[i] = slot;
      if (counts[i]! < 0) this.waiting[-counts[i]! - 1] = slot;
    }
    for (let unit = 0; unit < 65536; unit++) if (this.single[unit]! >= 0) this.singleSlot[unit] = moved[this.singleSlot[unit]!]!;
    return moved;
  }
}

/**
 * How a vocabulary's tokens can be counted by pieces, or why they cannot (the caller then
 * tokenizes whole chunks). "spm": from the vocabulary alone. "bpe": cuts known, each distinct
 * piece tokenized by llama.cpp; a chunk holding a user-defined token's text is tokenized whole,
 * since llama.cpp splits those out before its pre-tokenizer runs.
 */
export function countingFor(vocab: Vocabulary, countOnly = false): { spm: PieceTokenizer } | { bpe: BpePre; userDefined: string[] } | { why: string } {
  if (vocab.model === "gpt2") {
    const pre = vocab.pre ?? "default";
    if (!BPE_PRES.includes(pre)) return { why: `the ${pre} pre-tokenizer` };
    return { bpe: pre as BpePre, userDefined: vocab.tokens.filter((_, i) => userDefined(vocab, i)) };
  }
  const cut = cutRuleFor(vocab);
  if ("why" in cut) return cut;
  const spm = spmTokenizer(vocab);
  if ("why" in spm) return spm;
  return { spm: new PieceTokenizer(cut.rule, (pieces) => pieces.map(spm.tokenize), undefined, countOnly) };
}
