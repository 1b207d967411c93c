// Tokenizing by pieces (pieceCounter.ts) for a byte-level BPE vocabulary with Qwen2's or Llama 3's
// pre-tokenizer: where text may be cut so that its parts tokenize as the whole does, and llama.cpp
// tokenizing the distinct pieces.
//
// llama.cpp's BPE never merges across the words its pre-tokenizer splits text into, and those
// splitters (unicode_regex_split_custom_qwen2 and _llama3, the regex
// `'s|'t|'re|'ve|'m|'ll|'d|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`,
// with `\p{N}{1,3}` for Llama 3) read only forward from where a word starts. So a place p is a cut
// when a word always ends at p and the words before p come out the same when the text stops at p.
// Between ASCII characters L and R that holds when:
// - L is a digit: Qwen2 makes every digit a word of its own; Llama 3 groups a run of digits in
//   threes from its start, so only where R ends the run (an ASCII non-digit);
// - L is a letter and R is not: a run of letters ends at the first non-letter, and no other
//   word holds a letter;
// - L is punctuation and R a space, a tab or a digit: a punctuation run ends there, takes no
//   newline after it, and L cannot be the one-character lead of a letter word.
// Never after white space: `\s+(?!\S)` splits a run of spaces by what follows it. Never next to a
// non-ASCII character: which of those are letters is llama.cpp's Unicode tables' call.
import type { LlamaModel } from "node-llama-cpp";
import type { ChunkTokenizer } from "../../core/pack/packer";
import { PieceTokenizer, type BpePre, type Cuts } from "./pieceCounter";

/** NonAscii is 0, which PieceTokenizer's scan starts from; Control is the rest of ASCII (newlines among it). */
const enum Kind { NonAscii, Letter, Digit, Punct, Blank, Control }

export class BpeCuts implements Cuts {
  private readonly kinds = new Uint8Array(128);

  constructor(private readonly pre: BpePre) {
    for (let c = 0; c < 128; c++) {
      const ch = String.fromCharCode(c);
      this.kinds[c] = /[A-Za-z]/.test(ch) ? Kind.Letter : /[0-9]/.test(ch) ? Kind.Digit : c === 32 || c === 9 ? Kind.Blank : c > 32 && c < 127 ? Kind.Punct : Kind.Control;
    }
  }

  indexOf(cp: number): number {
    return cp < 128 ? this.kinds[cp]! : Kind.NonAscii;
  }

  joined(left: number, right: number): boolean {
    if (left === Kind.Digit) return this.pre === "llama-bpe" && (right === Kind.Digit || right === Kind.NonAscii);
    if (left === Kind.Letter) return right === Kind.Letter || right === Kind.NonAscii;
    if (left === Kind.Punct) return !(right === Kind.Blank || right === Kind.Digit);
    return true;
  }
}

/** A chunk holding a user-defined token's text (llama.cpp splits those out of raw text first) is tokenized whole. */
export function bpeTokenizer(model: Pick<LlamaModel, "tokenize">, tokenizeChunk: (text: string) => number[], pre: BpePre, userDefined: readonly string[], countOnly = false): ChunkTokenizer {
  const pieces = bpePieceTokenizer(model, tokenizeChunk, pre, !userDefined.some((t) => t.includes(SEPARATOR)), countOnly);
  const special = userDefined.length ? new RegExp(userDefined.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|")) : undefined;
  return {
    count: (text) => (special?.test(text) ? tokenizeChunk(text).length : pieces.count(text)),
    tokens: (text) => (special?.test(text) ? Int32Array.from(tokenizeChunk(text)) : pieces.tokens(text)),
  };
}

/** Joins BPE pieces for one call into llama.cpp: a digit word, cut from its neighbours. */
const SEPARATOR = "0";

/**
 * BPE pieces, each distinct one tokenized once by llama.cpp, a text's new ones in one call where
 * they can share it; a chunk's first piece as the continuation chunkTokenizer makes of it.
 * Joined by SEPARATOR, pieces keep their own tokens when the cut rule cuts on both sides of it
 * (for Llama 3, whose digit runs would take the separator in, that rules out pieces that end or
 * start with a digit). None may hold the separator: its token marks where each piece ends. The
 * rest are tokenized one by one.
 */
export function bpePieceTokenizer(model: Pick<LlamaModel, "tokenize">, tokenizeChunk: (text: string) => number[], pre: BpePre, batch = true, countOnly = false): PieceTokenizer {
  const cuts = new BpeCuts(pre);
  const separator = model.tokenize(SEPARATOR, false);
  const between = cuts.indexOf(SEPARATOR.charCodeAt(0));
  // A surrogate half at either end reads as non-ASCII, which no cut stands beside.
  const joinable = (piece: string): boolean => batch && separator.length === 1 && !piece.includes(SEPARATOR) &&
    !cuts.joined(cuts.indexOf(piece.charCodeAt(piece.length - 1)), between) && !cuts.joined(between, cuts.indexOf(piece.charCodeAt(0)));
  const alone = (piece: string): number[] => Array.from(model.tokenize(piece, false));
  const tokenizePieces = (pieces: readonly string[]): number[][] => {
    const together = pieces.map((p) => joinable(p));
    const joined = pieces.filter((_, i) => together[i]);
    if (joined.length < 2) return pieces.map(alone);
    const tokens = model.tokenize(joined.join(SEPARATOR), false);
    const each: number[][] = [[]];
    for (const t of tokens) {
      if (t === separator[0]) each.push([]);
      else each[each.length - 1]!.push(t);
    }
    // Anything else would mean the cut rule failed: tokenize those pieces one by one instead.
    const fits = each.length === joined.length && each.every((e) => e.length > 0);
    let next = 0;
    return pieces.map((p, i) => (!together[i] ? alone(p) : fits ? each[next++]! : alone(p)));
  };
  return new PieceTokenizer(cuts, tokenizePieces, tokenizeChunk, countOnly);
}
