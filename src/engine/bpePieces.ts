// Counting by pieces (pieceCounter.ts) for a byte-level BPE vocabulary with Qwen2's pre-tokenizer:
// where text may be cut so that its parts tokenize as the whole does, and llama.cpp counting the
// distinct pieces.
//
// llama.cpp's BPE never merges across the words its pre-tokenizer splits text into, and that
// splitter (unicode_regex_split_custom_qwen2, the regex
// `'s|'t|'re|'ve|'m|'ll|'d|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`)
// reads only forward from where a word starts. So a place p is a cut when a word always ends at
// p and the words before p come out the same when the text stops at p. Between ASCII characters
// L and R that holds when:
// - L is a digit: every digit is a word of its own;
// - L is a letter and R is not: a run of letters ends at the first non-letter, and no other
//   word holds a letter;
// - L is punctuation and R a space, a tab or a digit: a punctuation run ends there, takes no
//   newline after it, and L cannot be the one-character lead of a letter word.
// Never after white space: `\s+(?!\S)` splits a run of spaces by what follows it. Never next to a
// non-ASCII character: which of those are letters is llama.cpp's Unicode tables' call.
import type { LlamaModel } from "node-llama-cpp";
import type { CountTokens } from "../core/pack/packer";
import { PieceCounter, type Cuts } from "./pieceCounter";

/** NonAscii is 0, which PieceCounter's scan starts from; Control is the rest of ASCII (newlines among it). */
const enum Kind { NonAscii, Letter, Digit, Punct, Blank, Control }

export class Qwen2Cuts implements Cuts {
  private readonly kinds = new Uint8Array(128);

  constructor() {
    for (let c = 0; c < 128; c++) {
      const ch = String.fromCharCode(c);
      this.kinds[c] = /[A-Za-z]/.test(ch) ? Kind.Letter : /[0-9]/.test(ch) ? Kind.Digit : c === 32 || c === 9 ? Kind.Blank : c > 32 && c < 127 ? Kind.Punct : Kind.Control;
    }
  }

  indexOf(cp: number): number {
    return cp < 128 ? this.kinds[cp]! : Kind.NonAscii;
  }

  joined(left: number, right: number): boolean {
    if (left === Kind.Digit) return false;
    if (left === Kind.Letter) return right === Kind.Letter || right === Kind.NonAscii;
    if (left === Kind.Punct) return !(right === Kind.Blank || right === Kind.Digit);
    return true;
  }
}

/** A chunk holding a user-defined token's text (llama.cpp splits those out of raw text first) is tokenized whole. */
export function bpeCounter(model: Pick<LlamaModel, "tokenize">, tokenizeChunk: (text: string) => number[], userDefined: readonly string[]): CountTokens {
  const whole = (text: string): number => tokenizeChunk(text).length;
  const counter = bpePieceCounter(model, tokenizeChunk, !userDefined.some((t) => t.includes(SEPARATOR)));
  const special = userDefined.length ? new RegExp(userDefined.map((t) => t.replace(/[.*+?^${}()|[\]\\]/g, "\\$&")).join("|")) : undefined;
  return (text) => (special?.test(text) ? whole(text) : counter.count(text));
}

/** Joins BPE pieces for one call into llama.cpp: a digit is a word of its own, cut from both neighbours. */
const SEPARATOR = "0";

/**
 * BPE pieces, each distinct one tokenized once by llama.cpp, a text's new ones in one call where
 * they can share it; a chunk's first piece as the continuation chunkTokenizer makes of it.
 * Joined by SEPARATOR, pieces keep their own tokens when they end where Qwen2Cuts cuts before a
 * digit (an ASCII letter, digit or punctuation) and hold no separator of their own; the
 * separator's token then marks where each ends. The rest are tokenized one by one.
 */
export function bpePieceCounter(model: Pick<LlamaModel, "tokenize">, tokenizeChunk: (text: string) => number[], batch = true): PieceCounter {
  const separator = model.tokenize(SEPARATOR, false);
  const joinable = (piece: string): boolean => {
    const last = piece.charCodeAt(piece.length - 1);
    return batch && separator.length === 1 && last > 32 && last < 127 && !piece.includes(SEPARATOR);
  };
  const alone = (piece: string): number => model.tokenize(piece, false).length;
  const countPieces = (pieces: readonly string[]): number[] => {
    const counts = pieces.map((p) => (joinable(p) ? -1 : alone(p)));
    const joined = pieces.filter((_, i) => counts[i] === -1);
    if (joined.length < 2) return pieces.map((p, i) => (counts[i] === -1 ? alone(p) : counts[i]!));
    const tokens = model.tokenize(joined.join(SEPARATOR), false);
    const each: number[] = [];
    let n = 0;
    for (const t of tokens) {
      if (t === separator[0]) { each.push(n); n = 0; } else n++;
    }
    each.push(n);
    // Anything else would mean the cut rule failed: count those pieces one by one instead.
    const fits = each.length === joined.length && !each.includes(0);
    let next = 0;
    return pieces.map((p, i) => (counts[i] !== -1 ? counts[i]! : fits ? each[next++]! : alone(p)));
  };
  return new PieceCounter(new Qwen2Cuts(), countPieces, (piece) => tokenizeChunk(piece).length);
}
