// The tokens llama.cpp's SentencePiece tokenizer (llm_tokenizer_spm_session) makes of a piece of
// text, computed here rather than in llama.cpp so that planning needs no native code.
//
// The same steps as llama.cpp: the text's spaces become "▁"; each
// character starts as a symbol; the adjacent pair whose joined text is a vocabulary token with the
// highest score (the leftmost among equal scores) is merged, again and again; then each symbol is
// one token if its text is one, or else one byte token per UTF-8 byte. No prefix space is added:
// pieces continue text. test/engine/pieceCounter.test.ts holds this to llama.cpp on real files.
import type { Vocabulary } from "./ggufVocab";

const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/g;
const BYTE_TOKENS = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);

/** A tokenizer for the vocabulary, or why there is none. */
export function spmTokenizer(vocab: Vocabulary): { tokenize: (piece: string) => number[] } | { why: string } {
  if (vocab.model !== "llama") return { why: `a ${vocab.model} tokenizer, not SentencePiece` };
  if (vocab.scores.length !== vocab.tokens.length) return { why: "the vocabulary has no merge scores" };
  const ids = new Map<string, number>();
  // Later tokens with the same text win, as in llama.cpp's text-to-token map; a merge is scored by
  // the token that map finds.
  vocab.tokens.forEach((t, i) => ids.set(t, i));
  // A character that is no token becomes byte tokens; without them llama.cpp cannot encode it.
  if (!BYTE_TOKENS.every((b) => ids.has(b))) return { why: "the vocabulary lacks byte tokens" };
  const bytes = BYTE_TOKENS.map((b) => ids.get(b)!);
  const score = (text: string): number | undefined => {
    const id = ids.get(text);
    return id === undefined ? undefined : vocab.scores[id]!;
  };
  return { tokenize: (piece) => tokenizePiece(piece, ids, score, bytes) };
}

/** Symbols as a linked list over the piece's characters; a heap of candidate merges. */
function tokenizePiece(piece: string, ids: Map<string, number>, score: (text: string) => number | undefined, bytes: readonly number[]): number[] {
  // Node sends a lone surrogate to llama.cpp as U+FFFD.
  const text = piece.replace(LONE_SURROGATE, "\ufffd").replaceAll(" ", "\u2581");
  const starts: number[] = [];
  for (let i = 0; i < text.length; i++) {
    starts.push(i);
    const c = text.charCodeAt(i);
    if (c >= 0xd800 && c < 0xdc00) i++;
  }
  const n = starts.length;
  if (n === 0) return [];
  const len = starts.map((s, i) => (i + 1 < n ? starts[i + 1]! : text.length) - s);
  const prev = starts.map((_, i) => i - 1);
  const next = starts.map((_, i) => (i + 1 < n ? i + 1 : -1));
  const heap = new MergeHeap();
  const tryAdd = (left: number, right: number): void => {
    if (left < 0 || right < 0) return;
    const size = len[left]! + len[right]!;
    const s = score(text.slice(starts[left], starts[left]! + size));
    if (s !== undefined) heap.push(s, left, right, size);
  };
  for (let i = 1; i < n; i++) tryAdd(i - 1, i);
  while (heap.size) {
    const { left, right, size } = heap.pop();
    // Stale: one side has merged since this pair was queued.
    if (len[left] === 0 || len[right] === 0 || len[left]! + len[right]! !== size) continue;
    len[left] = size;
    len[right] = 0;
    next[left] = next[right]!;
    if (next[right]! >= 0) prev[next[right]!] = left;
    tryAdd(prev[left]!, left);
    tryAdd(left, next[left]!);
  }
  const tokens: number[] = [];
  for (let i = 0; i !== -1; i = next[i]!) {
    const symbol = text.slice(starts[i], starts[i]! + len[i]!);
    const id = ids.get(symbol);
    if (id !== undefined) tokens.push(id);
    else for (const b of Buffer.from(symbol, "utf8")) tokens.push(bytes[b]!);
  }
  return tokens;
}

/** A max-heap on score, then on the leftmost position: llama.cpp's llm_bigram_spm ordering. */
class MergeHeap {
  private readonly scores: number[] = [];
  private readonly lefts: number[] = [];
  private readonly rights: number[] = [];
  private readonly sizes: number[] = [];

  get size(): number {
    return this.scores.length;
  }

  push(score: number, left: number, right: number, size: number): void {
    let i = this.scores.length;
    this.scores.push(score); this.lefts.push(left); this.rights.push(right); this.sizes.push(size);
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (!this.before(i, parent)) break;
      this.swap(i, parent);
      i = parent;
    }
  }

  pop(): { left: number; right: number; size: number } {
    const top = { left: this.lefts[0]!, right: this.rights[0]!, size: this.sizes[0]! };
    const last = this.scores.length - 1;
    this.swap(0, last);
    this.scores.pop(); this.lefts.pop(); this.rights.pop(); this.sizes.pop();
    for (let i = 0; ;) {
      const l = 2 * i + 1;
      const r = l + 1;
      let best = i;
      if (l < last && this.before(l, best)) best = l;
      if (r < last && this.before(r, best)) best = r;
      if (best === i) break;
      this.swap(i, best);
      i = best;
    }
    return top;
  }

  private before(a: number, b: number): boolean {
    const sa = this.scores[a]!;
    const sb = this.scores[b]!;
    return sa > sb || (sa === sb && this.lefts[a]! < this.lefts[b]!);
  }

  private swap(a: number, b: number): void {
    for (const xs of [this.scores, this.lefts, this.rights, this.sizes]) {
      const t = xs[a]!;
      xs[a] = xs[b]!;
      xs[b] = t;
    }
  }
}
