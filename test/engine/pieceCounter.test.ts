// Tokenizing by pieces gives exactly the tokens llama.cpp makes of every chunk the packer cuts: on
// this repository's own files, on text made to break it, and on seeded random text, for each
// vocabulary the suite writes (SentencePiece, and Qwen2- and Llama 3-style BPE). A vocabulary that allows no
// cut rule falls back to whole chunks.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import type { LlamaModel } from "node-llama-cpp";
import { measureFile } from "../../src/core/pack/packer";
import { readVocabulary } from "../../src/engine/tokens/ggufVocab";
import { loadLlama } from "../../src/engine/llama/runtime";
import { countingFor } from "../../src/engine/tokens/pieceCounter";
import { bpePieceTokenizer } from "../../src/engine/tokens/bpePieces";
import { chunkTokens, chunkTokenizer, openTokenizer } from "../../src/engine/tokens/tokenizer";
import { HOSTILE_OUTPUT } from "../support/hostile";
import { tempDir } from "../support/fixtures";
import { testModelPath } from "../support/models";
import { writeTestModel } from "../support/testModel";

const dir = tempDir();
const models: { name: string; path: string; kind: "spm" | "bpe" }[] = [];
const loaded: LlamaModel[] = [];

before(() => {
  // The 0.5b shape's 32,000-token vocabulary, without weights: a vocabulary-only load never reads them.
  const big = join(dir.path, "vocab-0.5b.gguf");
  writeTestModel(big, { shape: "0.5b", hollow: true });
  const bpe = join(dir.path, "bpe.gguf");
  writeTestModel(bpe, { shape: "tiny", tokenizer: "bpe", hollow: true });
  const llama3 = join(dir.path, "bpe-llama3.gguf");
  writeTestModel(llama3, { shape: "tiny", tokenizer: "bpe", bpePre: "llama-bpe", hollow: true });
  models.push(
    { name: "tiny", path: testModelPath("tiny"), kind: "spm" },
    { name: "tiny, control byte tokens", path: testModelPath("tiny", { byteTokens: "control" }), kind: "spm" },
    { name: "0.5b vocabulary", path: big, kind: "spm" },
    { name: "Qwen2-style BPE", path: bpe, kind: "bpe" },
    { name: "Llama 3-style BPE", path: llama3, kind: "bpe" },
  );
});
after(async () => {
  for (const m of loaded) await m.dispose();
  dir.dispose();
});

async function load(path: string): Promise<LlamaModel> {
  const model = await (await loadLlama("cpu")).loadModel({ modelPath: path, vocabOnly: true });
  loaded.push(model);
  return model;
}

/** This repository's text files: real code, Markdown, JSON, shell. */
function ownFiles(): { path: string; text: string; bytes: number }[] {
  const out: { path: string; text: string; bytes: number }[] = [];
  const walk = (rel: string): void => {
    for (const name of readdirSync(rel)) {
      const path = join(rel, name);
      if (statSync(path).isDirectory()) walk(path);
      else if (/\.(ts|mjs|cjs|js|css|md|json|sh)$/.test(name)) out.push({ path, text: readFileSync(path, "utf8"), bytes: statSync(path).size });
    }
  };
  for (const root of ["src", "test/unit", "test/engine", "test/support", "webview", "bench", "scripts"]) walk(root);
  for (const f of ["README.md", "package.json", "esbuild.mjs", ".ci/run"]) out.push({ path: f, text: readFileSync(f, "utf8"), bytes: statSync(f).size });
  return out;
}

const NASTY = [
  // First, while its pieces are new: a digit run that a joined separator would regroup (Llama 3).
  "mk #vvw12345é; ",
  "", " ", "  ", "\n", "\n\n\n", "\t\tindented\r\n", "a\u00a0b", "x▁y ▁ ▁▁ z", " leading", "trailing ",
  "emoji 😀👩‍💻 and CJK 日本語のテキスト and Ü ß é", "lone \ud800 high and \udc00 low surrogates", "\ufffd",
  "control \u0000\u0001\u001b[31m\u007f chars", "</s> <s> <|im_end|> <|im_start|>system <unk> <0x0A> <0x41>",
  "=".repeat(300), "x".repeat(5000), "ab".repeat(3000), `${"the ".repeat(500)}end`, "\u202eevil\u202c",
  "it's they're I'LL we'd 's", "x1 1x 12345 3.14 a1b2", "a  b\n\n  c", "}\n\n", "foo(bar, baz);\n", "<tool_call> x<tool_call>y",
  "naïve café ﬁ", "\t\tx\t y", "a\r\nb\r\n", "  \n  \n", "::\n\n::",
  // New pieces that end in white space, beside others: joined to a separator, they would split differently.
  "qqq(zzz)\n  ", "www(vvv)\n\t\t", "kkk jjj\n    ", "yyy;\n  \n  ", `ab ${"w".repeat(70)} ccc~\n  `, `cd ${"v".repeat(90)} ddd(\n\t`,
  ...HOSTILE_OUTPUT,
];

/** Seeded text from a mix of words, vocabulary-like fragments and odd characters. */
function randomTexts(n: number): string[] {
  let state = 12345;
  const next = (k: number): number => { state = (Math.imul(state, 1103515245) + 12345) >>> 0; return state % k; };
  const parts = ["the", " the", "function", "return", " ", "  ", "    ", "\t", "\n", "(", ")", "{", "}", ";", "=", "==", "▁", "é", "😀", "日本", "\u0000", "ab", "zq", "x0", "<", "|", ">", "0x", "'", "\"", "\\", "\r\n", "'s", "'re", "7", "<tool_call>", "\u0301"];
  return Array.from({ length: n }, () => Array.from({ length: 1 + next(60) }, () => parts[next(parts.length)]).join(""));
}

test("piece tokens equal llama.cpp's, id for id, for every chunk of real files, nasty text and random text", async () => {
  const files = ownFiles();
  const texts = [...NASTY, ...randomTexts(3000)];
  assert.ok(files.length > 80, `${files.length} files`);
  for (const { name, path, kind } of models) {
    const counting = countingFor(await readVocabulary(path));
    assert.ok(kind in counting, `${name}: ${"why" in counting ? counting.why : Object.keys(counting)}`);
    const model = await load(path);
    const tokenize = chunkTokenizer(model);
    // SentencePiece from the vocabulary alone; BPE pieces through llama.cpp, the first as a continuation.
    const counter = "spm" in counting ? counting.spm : "bpe" in counting ? bpePieceTokenizer(model, tokenize, counting.bpe) : assert.fail(counting.why);
    // What the engines use, user-defined tokens handled: the same tokens.
    const wired = chunkTokens(model, tokenize);
    let chunks = 0;
    const check = (text: string): number => {
      const expected = tokenize(text);
      const what = `${name}: ${JSON.stringify(text.slice(0, 120))}`;
      if (!text.includes("<tool_call>")) {
        assert.equal(counter.count(text), expected.length, what);
        assert.deepEqual([...counter.tokens(text)], expected, what);
      }
      assert.equal(wired.count(text), expected.length, `${what}, as wired`);
      assert.deepEqual([...wired.tokens(text)], expected, `${what}, as wired`);
      chunks++;
      return expected.length;
    };
    // Made-up text first, while every piece in it is new; then the chunks the packer itself cuts
    // (headers and blocks of lines) at two budgets.
    for (const t of texts) check(t);
    for (const budget of [256, 4096]) for (const f of files) measureFile(f, budget, check);
    assert.ok(chunks > 5000, `${name}: ${chunks} chunks`);
    assert.ok(counter.stats.counted < counter.stats.pieces / 3, `${name}: pieces are remembered (${counter.stats.counted} counted of ${counter.stats.pieces})`);
  }
});

test("a vocabulary that can join text across a cut is counted by whole chunks, just as exactly", async () => {
  // The hostile model's scripted pieces join a newline to other text.
  const path = testModelPath("tiny", { hostile: true });
  const made = countingFor(await readVocabulary(path));
  assert.ok("why" in made && /newline/.test(made.why), "no cut rule");
  const model = await load(path);
  const tokenize = chunkTokenizer(model);
  const wired = chunkTokens(model, tokenize);
  for (const t of [...NASTY, ...randomTexts(200)]) {
    assert.equal(wired.count(t), tokenize(t).length, JSON.stringify(t.slice(0, 80)));
    assert.deepEqual([...wired.tokens(t)], tokenize(t), JSON.stringify(t.slice(0, 80)));
  }
  // openTokenizer takes the same way: its tokens are llama.cpp's, from whole chunks.
  const tokenizer = await openTokenizer(path, { workers: 0 });
  try {
    for (const t of NASTY) {
      assert.equal(tokenizer.countTokens(t), tokenize(t).length);
      assert.deepEqual([...tokenizer.tokenize(t)], tokenize(t));
    }
  } finally {
    await tokenizer.dispose();
  }
});

test("planning with a SentencePiece vocabulary loads no model: the vocabulary alone counts and tokenizes", async () => {
  const tokenizer = await openTokenizer(models[2]!.path);
  try {
    const text = "def main():\n    return 0\n";
    const expected = chunkTokenizer(await load(models[2]!.path))(text);
    assert.equal(tokenizer.countTokens(text), expected.length);
    assert.deepEqual([...tokenizer.tokenize(text)], expected);
  } finally {
    await tokenizer.dispose();
  }
  // A BPE vocabulary needs llama.cpp for its pieces: tokenize() waits for the model, loaded when asked.
  const bpe = await openTokenizer(models[3]!.path);
  try {
    assert.throws(() => bpe.tokenize("x"), /await ready\(\) first/);
    await bpe.ready();
    assert.ok(bpe.tokenize("x").length > 0);
  } finally {
    await bpe.dispose();
  }
});
