// npm run bench:text -- --model FILE [--lengths 100,512,2048] [--runs R]
// What turning generated tokens into text costs per token: TextStream (the few tokens not yet
// committed, behind a short context) against rendering every token so far on every push (what
// TextStream did until it was made incremental, kept here as the baseline), over margins and
// answers of several lengths. The tokens are this repository's own source as the model tokenizes
// it; the detokenizer is the model's own (llama.cpp's, through node-llama-cpp), vocabulary only.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type { Token as LlamaToken } from "node-llama-cpp";
import { TextStream } from "../src/core/wim/textStream";
import type { Token } from "../src/core/wim/engine";
import { loadLlama } from "../src/engine/llama/runtime";
import { median } from "./median";

const { values } = parseArgs({ options: { model: { type: "string" }, lengths: { type: "string", default: "100,512,2048" }, runs: { type: "string", default: "5" } } });
if (!values.model) throw new Error("--model FILE is required");

/** The baseline: every push renders all tokens so far. */
function everyTokenEachPush(render: (t: readonly Token[]) => string, tokens: readonly Token[]): string {
  let sent = 0;
  let out = "";
  for (let n = 1; n <= tokens.length; n++) {
    const text = render(tokens.slice(0, n));
    if (text.endsWith("\uFFFD")) continue;
    out += text.slice(sent);
    sent = text.length;
  }
  return out;
}

function incremental(render: (t: readonly Token[]) => string, tokens: readonly Token[]): string {
  const s = new TextStream(render);
  let out = "";
  for (const t of tokens) out += s.push(t);
  return out + s.flush();
}

async function main(): Promise<void> {
  const model = await (await loadLlama("cpu")).loadModel({ modelPath: values.model!, vocabOnly: true });
  const render = (t: readonly Token[]): string => model.detokenize(t as LlamaToken[], false);
  const source = ["src/core/wim/session.ts", "src/core/wim/marginWriter.ts", "README.md"].map((f) => readFileSync(f, "utf8")).join("\n");
  const all = [...model.tokenize(source)] as Token[];
  const runs = Number(values.runs);
  const rows = [];
  for (const length of values.lengths!.split(",").map(Number)) {
    const tokens = all.slice(0, length);
    const time = (f: typeof incremental): number => {
      f(render, tokens); // warm-up
      const ms: number[] = [];
      for (let r = 0; r < runs; r++) { const t = performance.now(); f(render, tokens); ms.push(performance.now() - t); }
      return (median(ms) * 1000) / tokens.length;
    };
    const before = time(everyTokenEachPush);
    const now = time(incremental);
    if (incremental(render, tokens) !== render(tokens)) throw new Error(`the streamed text of ${length} tokens differs from their rendering`);
    rows.push({ tokens: tokens.length, everyTokenUsPerToken: before, incrementalUsPerToken: now, ratio: before / now });
    console.log(`${String(tokens.length).padStart(5)} tokens: every token each push ${before.toFixed(1)} us/token, incremental ${now.toFixed(1)} us/token (${(before / now).toFixed(1)}x)`);
  }
  console.log(JSON.stringify({ bench: "text-stream", model: values.model, runs, rows }));
  await model.dispose();
}

main().catch((err) => {
  console.error(`bench:text: ${(err as Error).message}`);
  process.exitCode = 1;
});
