// TextStream renders only the tokens it has not committed yet: its deltas must be exactly what
// rendering every token at once gives, on each vocabulary the suite writes (SentencePiece with byte
// tokens or control bytes, Qwen2- and Llama 3-style BPE), for text made to break it (multi-byte
// characters split across tokens, spaces, control tokens) and seeded random tokens; and a token's
// cost must not grow with the text before it.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import type { LlamaModel, Token as LlamaToken } from "node-llama-cpp";
import { TextStream } from "../../src/core/wim/textStream";
import { VERDICT_SEPARATOR } from "../../src/core/wim/verdict";
import type { Token } from "../../src/core/wim/engine";
import { loadLlama } from "../../src/engine/llama/runtime";
import { HOSTILE_OUTPUT } from "../support/hostile";
import { tempDir } from "../support/fixtures";
import { testModelPath } from "../support/models";
import { rng, writeTestModel } from "../support/testModel";

const dir = tempDir();
const models: { name: string; model: LlamaModel }[] = [];

before(async () => {
  const bpe = join(dir.path, "bpe.gguf");
  writeTestModel(bpe, { shape: "tiny", tokenizer: "bpe", hollow: true });
  const llama3 = join(dir.path, "bpe-llama3.gguf");
  writeTestModel(llama3, { shape: "tiny", tokenizer: "bpe", bpePre: "llama-bpe", hollow: true });
  const llama = await loadLlama("cpu");
  const paths: [string, string][] = [
    ["SentencePiece", testModelPath("tiny")],
    ["SentencePiece, control byte tokens", testModelPath("tiny", { byteTokens: "control" })],
    ["Qwen2-style BPE", bpe],
    ["Llama 3-style BPE", llama3],
  ];
  for (const [name, path] of paths) models.push({ name, model: await llama.loadModel({ modelPath: path, vocabOnly: true }) });
});
after(async () => {
  for (const m of models) await m.model.dispose();
  dir.dispose();
});

const TEXTS = [
  "function main() {\n  return compute(7919) * 2;\n}\n",
  " leading space, then words: the cat sat on the mat. It's done!",
  "emoji 😀👩‍💻 and CJK 日本語のテキスト and Ü ß é naïve café ﬁ",
  "a  b\n\n  c\t\tx\t y\r\n::\n\n::",
  ": , yes. The answer is in src/main.ts:12",
  ...HOSTILE_OUTPUT,
];

function streamed(render: (t: readonly Token[]) => string, tokens: readonly Token[], drop?: RegExp): { deltas: string[]; text: string; rendered: number[] } {
  const rendered: number[] = [];
  const s = new TextStream((t) => { rendered.push(t.length); return render(t); }, drop);
  const deltas: string[] = [];
  for (const token of tokens) deltas.push(s.push(token));
  deltas.push(s.flush());
  return { deltas, text: s.text, rendered };
}

function cases(model: LlamaModel): Token[][] {
  const out: Token[][] = TEXTS.map((t) => [...model.tokenize(t)] as Token[]);
  // Every text's tokens joined: a long stream crossing each kind of boundary.
  out.push(out.flat());
  const random = rng(7);
  const vocab = 2048; // the tiny shape's, for every tokenizer written above
  for (let k = 0; k < 20; k++) out.push(Array.from({ length: 40 + Math.floor(random() * 80) }, () => Math.floor(random() * vocab) as Token));
  return out;
}

test("deltas add up to rendering every token at once, on each vocabulary, and hold back only what may change", () => {
  for (const { name, model } of models) {
    const render = (t: readonly Token[]): string => model.detokenize(t as LlamaToken[], false);
    for (const [i, tokens] of cases(model).entries()) {
      for (const drop of [undefined, VERDICT_SEPARATOR]) {
        const at = `${name}, case ${i}${drop ? ", separators dropped" : ""}`;
        const whole = (n: number): string => { const t = render(tokens.slice(0, n)); return drop ? t.replace(drop, "") : t; };
        const final = whole(tokens.length);
        const got = streamed(render, tokens, drop);
        assert.equal(got.deltas.join(""), final, at);
        assert.equal(got.text, final, at);
        // After each token: what was sent is where the rendering so far begins, and what it holds
        // back is white space (a cleaning detokenizer may drop it) or an unfinished character.
        let sent = "";
        for (let n = 1; n <= tokens.length; n++) {
          sent += got.deltas[n - 1];
          const sofar = whole(n);
          assert.ok(final.startsWith(sent), `${at}, token ${n}: ${JSON.stringify(sent)} is not how the text begins`);
          assert.ok(sofar.startsWith(sent) && (/^\s*$/.test(sofar.slice(sent.length)) || sofar.endsWith("\uFFFD")),
            `${at}, token ${n}: sent ${JSON.stringify(sent.slice(-20))}, rendered ${JSON.stringify(sofar.slice(-20))}`);
        }
      }
    }
  }
});

test("a token's rendering does not grow with the text before it", () => {
  const { model } = models.find((m) => m.name === "Qwen2-style BPE")!;
  const render = (t: readonly Token[]): string => model.detokenize(t as LlamaToken[], false);
  const tokens = [...model.tokenize("export function f(x: number): number {\n  return x * 7919 + 1;\n}\n".repeat(40))] as Token[];
  assert.ok(tokens.length > 500, `${tokens.length} tokens`);
  const got = streamed(render, tokens);
  assert.equal(got.text, render(tokens));
  // Rendered per push: the new token behind a few committed ones (twice: with and without it),
  // not all of them. Before, the pushes rendered n(n+1)/2 tokens in all.
  const perPush = got.rendered.reduce((a, b) => a + b, 0) / tokens.length;
  assert.ok(perPush < 12, `${perPush.toFixed(1)} tokens rendered per push`);
});
