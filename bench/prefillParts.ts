// npm run bench:prefill-parts -- --model FILE [--gpu G] [--tokens N] [--runs R] [--segment-tokens N] [--batch-size N] [--llama-bench PATH]
// Where prefill's time goes between llama.cpp and the engine, in one process, one model and one
// context (the engine's own: its batch size, flash attention and threads), the same tokens each
// way, the median of R runs (30,720 tokens by default: with the opening and a prompt, what a 32k
// context holds):
//   bare       node-llama-cpp's evaluateWithoutGeneratingNewTokens() on all the tokens at once
//   pieces     the same, one batch per call, each awaited (what the engine's append() does)
//   append     the engine's append(), segment by segment (4,096 tokens), as a WiM run reads
//   synced     the same, but each segment's last token read with an output (a verdict's read with no
//              prompt): what stopping after every segment costs alone
//   prompt     append, then the fused extractive prompt appended and erased, nothing read: its tokens
//   prompt2    the same, the prompt twice: whether a small batch costs more after a large one
//   verdict    append, the fused verdict on the prompt, the erase: WiM's reading with no margin
//              written (MarginWriter's path for an irrelevant segment), split into its steps; the
//              segment's last part batch rides with the prompt (llamaSequence.ts)
//   unmerged   the same with the segment's tail evaluated alone first, as before that change
// With --segment-tokens below a multiple of the batch (packed segments are: a file is not cut to
// fill one), append holds each segment's tail back for the next evaluation; prompt and prompt2
// evaluate it, and their prompts, alone all the same.
// Each run ends with one token read, so that its time holds its GPU work. With llama-bench, also
// llama.cpp's own rate for the same number of tokens at the engine's batch and micro-batch
// (node-llama-cpp sets n_ubatch = n_batch).
import { parseArgs } from "node:util";
import type { LlamaContextSequence } from "node-llama-cpp";
import type { GpuChoice } from "../src/engine/llama/runtime";
import { openLlamaEngine } from "../src/engine/llama/llamaEngine";
import type { LlamaSequence } from "../src/engine/llama/llamaSequence";
import type { Token } from "../src/core/wim/engine";
import * as prompts from "../src/core/wim/prompts";
import * as verdict from "../src/core/wim/verdict";
import { llamaBench, llamaBenchBinary } from "./llamaBench";
import { median } from "./median";
import { runWithAddonShim } from "./addonShim";

runWithAddonShim();

const { values } = parseArgs({
  options: {
    model: { type: "string" }, gpu: { type: "string", default: "auto" }, tokens: { type: "string", default: "30720" },
    runs: { type: "string", default: "3" }, "llama-bench": { type: "string" }, "segment-tokens": { type: "string", default: "4096" },
    "batch-size": { type: "string" },
  },
});
if (!values.model) throw new Error("--model FILE is required");
const total = Number(values.tokens);
const runs = Number(values.runs);
const benchBin = llamaBenchBinary(values["llama-bench"]);
const timeline = process.env.ASK_CODEBASE_ADDON_SHIM_TRACE === "timeline";
/** WiM's default segment is 4,096 tokens at most; packed ones are shorter. */
const SEGMENT = Number(values["segment-tokens"]);

async function main(): Promise<void> {
  const engine = await openLlamaEngine({ modelPath: values.model!, gpu: values.gpu as GpuChoice, ...(values["batch-size"] ? { batchSize: Number(values["batch-size"]) } : {}) });
  const [seq] = await engine.prepare({ tokensPerSequence: total + 256, sequences: 1 });
  const raw = (seq as unknown as { seq: LlamaContextSequence }).seq;
  const held = seq as LlamaSequence;
  let tokens: Token[] = [];
  for (let i = 0; tokens.length < total; i++) tokens = tokens.concat(engine.tokenizeText(`export function f${i}(x: number): number {\n  return x * ${i % 97} + ${i};\n}\n`));
  tokens = tokens.slice(0, total);
  const batch = raw.context.batchSize;
  const segments: Token[][] = [];
  for (let i = 0; i < total; i += SEGMENT) segments.push(tokens.slice(i, i + SEGMENT));
  const reader = engine.chatParts(prompts.READER_SYSTEM);
  const extract = [...engine.tokenizeText(prompts.fusedExtractivePrompt("Which function multiplies its argument by 7919?")), ...reader.suffix];
  const candidates = verdict.candidates(verdict.verdictTokens(engine));
  // Per step of the verdict way, summed over a run's segments: where a segment's extra time goes.
  const steps = { append: [] as number[], verdict: [] as number[], erase: [] as number[] };
  // Each segment, then the prompt appended and erased `times` times, nothing read, each batch alone as before the tail rode along.
  const prompted = (times: number) => async (): Promise<void> => {
    for (const s of segments) {
      await seq!.append(s);
      await held.flush();
      const end = seq!.length;
      for (let i = 0; i < times; i++) {
        await seq!.append(extract);
        await held.flush();
        await seq!.truncate(end);
      }
    }
  };
  // Each segment, the fused verdict after it, the erase; `alone`: the segment's held tail evaluated first.
  const verdicts = (alone: boolean) => async (): Promise<void> => {
    const took = { append: 0, verdict: 0, erase: 0 };
    for (const s of segments) {
      const t0 = performance.now();
      await seq!.append(s);
      if (alone) await held.flush();
      const end = seq!.length;
      const t1 = performance.now();
      await seq!.nextTokenProbabilities(extract, candidates);
      const t2 = performance.now();
      await seq!.truncate(end);
      took.append += t1 - t0;
      took.verdict += t2 - t1;
      took.erase += performance.now() - t2;
    }
    if (alone) return;
    steps.append.push(took.append);
    steps.verdict.push(took.verdict);
    steps.erase.push(took.erase);
  };
  const ways: [string, () => Promise<void>][] = [
    ["bare", () => raw.evaluateWithoutGeneratingNewTokens(tokens as never)],
    ["pieces", async () => { for (let i = 0; i < total; i += batch) await raw.evaluateWithoutGeneratingNewTokens(tokens.slice(i, i + batch) as never); }],
    ["append", async () => { for (const s of segments) await seq!.append(s); }],
    ["synced", async () => {
      for (const s of segments) {
        await seq!.append(s.slice(0, -1));
        await seq!.nextTokenProbabilities(s.slice(-1), candidates);
      }
    }],
    ["prompt", prompted(1)],
    ["prompt2", prompted(2)],
    ["verdict", verdicts(false)],
    ["unmerged", verdicts(true)],
  ];
  // One untimed pass: the first decodes of each batch shape set up the backend's kernels.
  await ways[0]![1]();
  await seq!.truncate(0);
  const rows: { way: string; tokensPerSecond: number; ms: number }[] = [];
  for (const [way, run] of ways) {
    const ms: number[] = [];
    for (let r = 0; r < runs; r++) {
      // With the shim's timeline (ASK_CODEBASE_ADDON_SHIM_TRACE=timeline), which run its lines are.
      if (timeline) process.stderr.write(`ask-codebase addon shim timeline: ${way} run ${r}\n`);
      const t = performance.now();
      await run();
      // A token read at the end: a decode's return is not its end on a GPU (the addon shim skips
      // the synchronize), so each run's time holds all its work and none of the run before.
      await seq!.nextTokenProbabilities(tokens.slice(0, 1), candidates);
      ms.push(performance.now() - t);
      await seq!.truncate(0);
    }
    rows.push({ way, tokensPerSecond: total / (median(ms) / 1000), ms: median(ms) });
  }
  const appendMs = rows.find((r) => r.way === "append")!.ms;
  // The ways that read and nothing else; the others stop after each segment, and are told over append.
  const stops = (r: { way: string }): boolean => !["bare", "pieces", "append"].includes(r.way);
  // Over append, per segment: what a WiM reading pays for each stop after a segment.
  const perSegment = (r: { ms: number }): number => (r.ms - appendMs) / segments.length;
  const split = { append: median(steps.append) / segments.length, verdict: median(steps.verdict) / segments.length, erase: median(steps.erase) / segments.length };
  const limit = benchBin ? llamaBench(benchBin, values.model!, { prompt: total, batch, ubatch: batch, gpu: engine.info.backend !== "cpu" }) : undefined;
  for (const r of rows) {
    const over = stops(r) ? `  ${perSegment(r) >= 0 ? "+" : ""}${perSegment(r).toFixed(2)} ms a segment over append` : "";
    console.log(`${r.way.padEnd(8)} ${Math.round(r.tokensPerSecond).toLocaleString("en-US").padStart(8)} tok/s${limit ? `  ${(r.tokensPerSecond / limit.tokensPerSecond).toFixed(2)}x llama-bench` : ""}${over}`);
  }
  console.log(`verdict, a segment (${segments.length} of ${SEGMENT} tokens, prompt ${extract.length}): append ${split.append.toFixed(2)} ms, verdict ${split.verdict.toFixed(2)} ms, erase ${split.erase.toFixed(3)} ms`);
  if (limit) console.log(`llama-bench pp${total} b${batch} ub${batch}: ${Math.round(limit.tokensPerSecond).toLocaleString("en-US")} tok/s`);
  console.log(JSON.stringify({ bench: "prefill-parts", backend: engine.info.backend, addonShim: engine.info.addonShim, gpu: engine.info.gpuNames, model: engine.shape, tokens: total, runs, segmentTokens: SEGMENT, promptTokens: extract.length, rows: rows.map((r) => ({ ...r, ...(stops(r) ? { msPerSegmentOverAppend: perSegment(r) } : {}) })), verdictSplitMsPerSegment: split, ...(limit ? { llamaBench: limit.tokensPerSecond } : {}) }));
  await engine.dispose();
}

main().catch((err: unknown) => { console.error(err); process.exitCode = 1; });
