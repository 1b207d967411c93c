// Where text may be cut for a byte-level BPE vocabulary with Qwen2's pre-tokenizer, so that its
// parts tokenize as the whole does (see pieceCounter.ts for why that matters).
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
import type { Cuts } from "./pieceCounter";

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
