// npm run bench:prefill-parts -- --model FILE [--gpu G] [--tokens N] [--runs R] [--llama-bench PATH]
// Where prefill's time goes between llama.cpp and the engine, in one process, one model and one
// context (the engine's own: its batch size, flash attention and threads), the same tokens each
// way, the median of R runs:
//   bare       node-llama-cpp's evaluateWithoutGeneratingNewTokens() on all the tokens at once
//   pieces     the same, one batch per call, each awaited (what the engine's append() does)
//   append     the engine's append(), segment by segment (4,096 tokens), as a WiM run reads
// and, with llama-bench, llama.cpp's own rate for the same number of tokens at the engine's batch
// and micro-batch (node-llama-cpp sets n_ubatch = n_batch).
import { parseArgs } from "node:util";
import type { LlamaContextSequence } from "node-llama-cpp";
import type { GpuChoice } from "../src/engine/llama/runtime";
import { openLlamaEngine } from "../src/engine/llama/llamaEngine";
import type { Token } from "../src/core/wim/engine";
import { llamaBench, llamaBenchBinary } from "./llamaBench";
import { median } from "./median";
import { runWithAddonShim } from "./addonShim";

runWithAddonShim();

const { values } = parseArgs({
  options: {
    model: { type: "string" }, gpu: { type: "string", default: "auto" }, tokens: { type: "string", default: "32768" },
    runs: { type: "string", default: "3" }, "llama-bench": { type: "string" },
  },
});
if (!values.model) throw new Error("--model FILE is required");
const total = Number(values.tokens);
const runs = Number(values.runs);
const benchBin = llamaBenchBinary(values["llama-bench"]);

async function main(): Promise<void> {
  const engine = await openLlamaEngine({ modelPath: values.model!, gpu: values.gpu as GpuChoice });
  const [seq] = await engine.prepare({ tokensPerSequence: total + 256, sequences: 1 });
  const raw = (seq as unknown as { seq: LlamaContextSequence }).seq;
  let tokens: Token[] = [];
  for (let i = 0; tokens.length < total; i++) tokens = tokens.concat(engine.tokenizeText(`export function f${i}(x: number): number {\n  return x * ${i % 97} + ${i};\n}\n`));
  tokens = tokens.slice(0, total);
  const batch = raw.context.batchSize;
  const ways: [string, () => Promise<void>][] = [
    ["bare", () => raw.evaluateWithoutGeneratingNewTokens(tokens as never)],
    ["pieces", async () => { for (let i = 0; i < total; i += batch) await raw.evaluateWithoutGeneratingNewTokens(tokens.slice(i, i + batch) as never); }],
    ["append", async () => { for (let i = 0; i < total; i += 4096) await seq!.append(tokens.slice(i, i + 4096)); }],
  ];
  // One untimed pass: the first decodes of each batch shape set up the backend's kernels.
  await ways[0]![1]();
  await seq!.truncate(0);
  const rows: { way: string; tokensPerSecond: number }[] = [];
  for (const [way, run] of ways) {
    const ms: number[] = [];
    for (let r = 0; r < runs; r++) {
      const t = performance.now();
      await run();
      ms.push(performance.now() - t);
      await seq!.truncate(0);
    }
    rows.push({ way, tokensPerSecond: total / (median(ms) / 1000) });
  }
  const limit = benchBin ? llamaBench(benchBin, values.model!, { prompt: total, batch, ubatch: batch, gpu: engine.info.backend !== "cpu" }) : undefined;
  for (const r of rows) console.log(`${r.way.padEnd(8)} ${Math.round(r.tokensPerSecond).toLocaleString("en-US").padStart(8)} tok/s${limit ? `  ${(r.tokensPerSecond / limit.tokensPerSecond).toFixed(2)}x llama-bench` : ""}`);
  if (limit) console.log(`llama-bench pp${total} b${batch} ub${batch}: ${Math.round(limit.tokensPerSecond).toLocaleString("en-US")} tok/s`);
  console.log(JSON.stringify({ bench: "prefill-parts", backend: engine.info.backend, addonShim: engine.info.addonShim, gpu: engine.info.gpuNames, model: engine.shape, tokens: total, runs, rows, ...(limit ? { llamaBench: limit.tokensPerSecond } : {}) }));
  await engine.dispose();
}

main().catch((err: unknown) => { console.error(err); process.exitCode = 1; });
