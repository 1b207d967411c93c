// Counting by pieces without a model: where text may be cut, which vocabularies allow it, the
// memo, the SentencePiece merge order, and reading a vocabulary from a GGUF file.
// test/engine/pieceCounter.test.ts holds the counts to llama.cpp itself.
import { test } from "node:test";
import assert from "node:assert/strict";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { readVocabulary, type Vocabulary } from "../../src/engine/tokens/ggufVocab";
import { BpeCuts } from "../../src/engine/tokens/bpePieces";
import { countingFor, CutRule, cutRuleFor, PieceTokenizer } from "../../src/engine/tokens/pieceCounter";
import { spmTokenizer } from "../../src/engine/tokens/spmCount";
import { tempDir } from "../support/fixtures";
import { ValueType, writeGguf } from "../support/gguf";
import { buildVocab } from "../support/testModel";

const BYTES = Array.from({ length: 256 }, (_, b) => `<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`);

function vocab(pieces: [string, number][], extra: Partial<Vocabulary> = {}): Vocabulary {
  const tokens = ["<unk>", ...BYTES, ...pieces.map(([t]) => t)];
  return {
    model: "llama",
    tokens,
    scores: [0, ...BYTES.map(() => 0), ...pieces.map(([, s]) => s)],
    types: [2, ...BYTES.map(() => 6), ...pieces.map(() => 1)],
    ...extra,
  };
}

/** How the counter splits text where the rule allows: how many pieces, and the distinct ones. */
function pieces(rule: CutRule, text: string): { count: number; distinct: string[] } {
  const distinct: string[] = [];
  const count = new PieceTokenizer(rule, (ps) => ps.map((p) => { distinct.push(p); return [0]; })).count(text);
  return { count, distinct };
}

test("text is cut only between characters that no vocabulary token holds side by side", () => {
  const rule = new CutRule(["ab", "▁a", "c"]);
  assert.deepEqual(pieces(rule, "abab"), { count: 2, distinct: ["ab"] });
  assert.deepEqual(pieces(rule, "xaby"), { count: 3, distinct: ["x", "ab", "y"] });
  // A space is SentencePiece's "▁" and joins what "▁a" joins; "c" is in no multi-character token.
  assert.deepEqual(pieces(rule, "c ab"), { count: 2, distinct: ["c", " ab"] });
  assert.deepEqual(pieces(rule, "b  a"), { count: 3, distinct: ["b", " ", " a"] });
  assert.deepEqual(pieces(new CutRule(["ab"]), "😀ab😀"), { count: 3, distinct: ["😀", "ab"] });
  // llama.cpp sees a lone surrogate as U+FFFD, which a token may hold.
  assert.deepEqual(pieces(new CutRule(["a\ufffd"]), "a\ud800b"), { count: 2, distinct: ["a\ud800", "b"] });
});

test("a vocabulary that could join across a cut gets no rule, and says why", () => {
  assert.match((cutRuleFor(vocab([], { model: "bert" })) as { why: string }).why, /bert tokenizer/);
  assert.match((countingFor(vocab([], { model: "gpt2", pre: "deepseek-coder" })) as { why: string }).why, /deepseek-coder pre-tokenizer/);
  const userDefined = vocab([["<tool>", 0]]);
  userDefined.types = [...userDefined.types.slice(0, -1), 4];
  assert.match((cutRuleFor(userDefined) as { why: string }).why, /user-defined token "<tool>"/);
  // llama.cpp makes these user-defined on load whatever the file says.
  assert.match((cutRuleFor(vocab([["<|channel|>", 0]])) as { why: string }).why, /user-defined/);
  assert.match((cutRuleFor(vocab([["}\n", 0]])) as { why: string }).why, /newline/);
  assert.match((cutRuleFor(vocab([["a\ufffd", 0]])) as { why: string }).why, /not valid UTF-8/);
  assert.match((countingFor(vocab([["ab", 1]], { scores: [] })) as { why: string }).why, /no merge scores/);
  const noBytes = vocab([["ab", 1]]);
  assert.match((spmTokenizer({ ...noBytes, tokens: noBytes.tokens.map((t) => (t === "<0x41>" ? "<0x41 >" : t)) }) as { why: string }).why, /byte tokens/);
  assert.ok("spm" in countingFor(vocab([["ab", 1]])));
  const qwen = countingFor({ model: "gpt2", pre: "qwen2", tokens: ["a", "<tool_call>"], scores: [], types: [1, 4] });
  assert.ok("bpe" in qwen && qwen.bpe === "qwen2" && qwen.userDefined.join() === "<tool_call>");
  const llama3 = countingFor({ model: "gpt2", pre: "llama-bpe", tokens: ["a"], scores: [], types: [1] });
  assert.ok("bpe" in llama3 && llama3.bpe === "llama-bpe");
  assert.match((countingFor({ model: "gpt2", tokens: ["a"], scores: [], types: [1] }) as { why: string }).why, /default pre-tokenizer/);
});

test("BPE pre-tokenizers are cut after a digit, after a letter before a non-letter, after punctuation before a blank or digit", () => {
  const cut = (pre: "qwen2" | "llama-bpe", text: string): string[] => {
    const parts: string[] = [];
    let at = 0;
    new PieceTokenizer(new BpeCuts(pre), (ps) => ps.map((p) => { parts.push(p); return [0]; }), (p) => { parts.push(p); return [0]; }).count(text);
    // The counter remembers pieces, so rebuild the split from where each first appears.
    return parts.map((p) => { const i = text.indexOf(p, at); at = i + p.length; return `${i}:${p}`; });
  };
  assert.deepEqual(cut("qwen2", "foo(bar, x1)"), ["0:foo", "3:(bar", "7:,", "8: x", "10:1", "11:)"]);
  // Never after white space, never beside a non-ASCII character, never inside "'s".
  assert.deepEqual(cut("qwen2", "a  b\n\nc"), ["0:a", "1:  b", "4:\n\nc"]);
  assert.deepEqual(cut("qwen2", "naïve it's"), ["0:naïve", "5: it", "8:'s"]);
  // Qwen2 makes each digit a word; Llama 3 groups a run of digits, so a run is cut only where it ends.
  assert.deepEqual(cut("qwen2", "v12345;"), ["0:v", "1:1", "2:2", "3:3", "4:4", "5:5", "6:;"]);
  assert.deepEqual(cut("llama-bpe", "v12345;"), ["0:v", "1:12345", "6:;"]);
  assert.deepEqual(cut("llama-bpe", "7١"), ["0:7١"]);
});

test("each distinct piece is counted once, and the sums stay exact as the memo grows", () => {
  const counted: string[] = [];
  const chars = "x0123456789";
  const joinAll = [...chars].flatMap((a) => [...chars].map((b) => a + b));
  const counter = new PieceTokenizer(new CutRule(["ab", "abc", "bc", ...joinAll]), (ps) => ps.map((p) => { counted.push(p); return Array.from(p, (c) => c.charCodeAt(0)); }));
  assert.equal(counter.count("abc-abc-abc"), 11);
  assert.deepEqual(counted, ["abc", "-"]);
  // 200,000 distinct pieces grow the table several times; every text's sum is checked.
  for (let i = 0; i < 200_000; i++) {
    const text = `x${i}-abc`;
    assert.equal(counter.count(text), text.length);
  }
  assert.equal(counted.length, 200_002);
  assert.equal(counter.count("x7-abc x199999"), 14);
  assert.equal(counted.length, 200_003, "only the space was new");
  // A long piece is counted each time it occurs rather than kept.
  const long = "x1".repeat(100);
  assert.equal(counter.count(long + "-" + long), 401);
  assert.equal(counter.count(long), 200);
  assert.equal(counted.filter((p) => p === long).length, 3);
});

test("a text's tokens are its pieces' tokens in order, through table growth, long pieces and first pieces", () => {
  // Each piece's "tokens" are its character codes, so a text's tokens must spell the text.
  const codes = (p: string): number[] => Array.from(p, (c) => c.charCodeAt(0));
  const spelled = (t: Int32Array): string => String.fromCharCode(...t);
  const chars = "x0123456789";
  const joinAll = [...chars].flatMap((a) => [...chars].map((b) => a + b));
  const firsts: string[] = [];
  const tokenizer = new PieceTokenizer(new CutRule(["ab", "abc", "bc", ...joinAll]), (ps) => ps.map(codes), (p) => { firsts.push(p); return [-1, ...codes(p)]; });
  // The first piece of each text is tokenized apart (a BPE chunk's continuation): marked by -1 here.
  assert.deepEqual([...tokenizer.tokens("abc-abc")], [-1, ...codes("abc"), ...codes("-abc")]);
  for (let i = 0; i < 150_000; i++) {
    // New pieces in the middle of a text: the table grows while this text's references are held.
    const text = `abc-x${i}-abc-x${i}-${"x1".repeat(i % 50 === 0 ? 60 : 1)}`;
    const t = tokenizer.tokens(text);
    assert.equal(t[0], -1);
    assert.equal(spelled(t.subarray(1)), text, text);
    assert.equal(tokenizer.count(text), t.length);
  }
  assert.ok(firsts.length < 10, "first pieces are remembered too");
  // Without a first-piece tokenizer, every piece comes from the table.
  const plain = new PieceTokenizer(new CutRule(["ab", ...joinAll]), (ps) => ps.map(codes));
  assert.equal(spelled(plain.tokens("ab ab x12 " + "x1".repeat(80))), "ab ab x12 " + "x1".repeat(80));
  assert.equal(plain.tokens("").length, 0);
});

test("SentencePiece counts follow llama.cpp's merge order: highest score, then leftmost", () => {
  // "ab" outscores "bc", so "abc" merges a+b first, then "ab"+"c" only if "abc" is a token.
  const v = vocab([["ab", 5], ["bc", 4], ["abc", 1], ["bcd", 6], ["▁", 0], ["▁x", 1], ["xa", 9]]);
  const { tokenize } = spmTokenizer(v) as { tokenize: (p: string) => number[] };
  const count = (p: string): number => tokenize(p).length;
  assert.equal(count("abc"), 1); // ab, then abc
  assert.equal(count("abcd"), 2); // ab first (5 > 4), so bcd is never reached: ab|c|d -> abc|d
  assert.equal(count("bcd"), 1);
  // Equal scores: the leftmost pair merges first. "aa" twice in "aaa" leaves one lone "a".
  const ties = spmTokenizer(vocab([["aa", 1]])) as { tokenize: (p: string) => number[] };
  assert.equal(ties.tokenize("aaa").length, 2);
  // A space is "▁": " x" is one token, "xa" outranks it in " xa".
  assert.equal(count(" x"), 1);
  assert.equal(count(" xa"), 2);
  // A character that is no token becomes one byte token per UTF-8 byte.
  assert.equal(count("é"), 2);
  assert.equal(count("😀"), 4);
  assert.equal(count("\ud800"), 3, "a lone surrogate is U+FFFD, three bytes");
  assert.equal(count(""), 0);
  // The ids: tokens by their place in the vocabulary, bytes as byte tokens.
  const id = (t: string): number => v.tokens.lastIndexOf(t);
  assert.deepEqual(tokenize("abcd"), [id("abc"), id("<0x64>")]);
  assert.deepEqual(tokenize(" xa"), [id("▁"), id("xa")]);
  assert.deepEqual(tokenize("é"), [id("<0xC3>"), id("<0xA9>")]);
  // Two tokens with the same text: the later one is the one llama.cpp's map finds.
  const twice = vocab([["ab", 1], ["ab", 2]]);
  assert.deepEqual((spmTokenizer(twice) as { tokenize: (p: string) => number[] }).tokenize("ab"), [twice.tokens.lastIndexOf("ab")]);
});

test("the vocabulary is read from GGUF metadata, however large, and damage is named", async () => {
  const dir = tempDir();
  try {
    const built = buildVocab(2048);
    const path = join(dir.path, "m.gguf");
    writeGguf(path, {
      "general.architecture": { type: ValueType.STRING, value: "llama" },
      "general.note": { type: ValueType.ARRAY, itemType: ValueType.F32, value: [1, 2, 3] },
      "tokenizer.ggml.model": { type: ValueType.STRING, value: "llama" },
      "tokenizer.ggml.tokens": { type: ValueType.ARRAY, itemType: ValueType.STRING, value: built.tokens },
      "tokenizer.ggml.scores": { type: ValueType.ARRAY, itemType: ValueType.F32, value: built.scores },
      "tokenizer.ggml.token_type": { type: ValueType.ARRAY, itemType: ValueType.I32, value: built.types },
      "tokenizer.ggml.add_bos_token": { type: ValueType.BOOL, value: true },
    }, []);
    for (const firstRead of [4 * 1024 * 1024, 64]) {
      const read = await readVocabulary(path, firstRead);
      assert.equal(read.model, "llama");
      assert.deepEqual(read.tokens, built.tokens);
      assert.deepEqual(read.types, built.types);
      assert.deepEqual(read.scores, built.scores.map((s) => Math.fround(s)));
    }
    const whole = (await import("node:fs")).readFileSync(path);
    writeFileSync(path, whole.subarray(0, 5000));
    await assert.rejects(readVocabulary(path), /ends inside its metadata/);
  } finally {
    dir.dispose();
  }
});
