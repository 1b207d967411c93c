// npm run bench -- --model FILE [--tokens N] [--segment-tokens N] [--margin-tokens N] [--answer-tokens N]
//                  [--gpu G] [--batch-size N] [--flash-attention on|off] [--kv-type f16|q8_0] [--lookup] [--threads N]
//                  [--llama-bench PATH]
// In one process, on one engine, in one run: plain chunked prefill plus an answer; WiM with every
// margin at its cap; WiM with the fused verdict where 1 segment in 8 is relevant; WiM with the
// separate classifier; map-reduce (each segment alone plus its margin, then the plain run with the
// margins), classic and with the same fused verdict. Random-weight models cannot judge relevance,
// so the benchmark fixes which segments are relevant (the session's `judge`): the verdict is still
// computed, the cost of each path is real. Prints times, rates, ratios and a final JSON line with
// every setting, the backend and the GPU. With llama-bench (--llama-bench or $LLAMA_BENCH), also
// llama.cpp's own prompt rate on the same model (-p 4096 at the same batch size, and the same prompt
// length at the same micro-batch) beside plain prefill.
import { parseArgs } from "node:util";
import { packFiles, segmentChunks, type Segment } from "../src/core/pack/packer";
import * as prompts from "../src/core/wim/prompts";
import { WimSession, type WimOptions } from "../src/core/wim/session";
import * as verdict from "../src/core/wim/verdict";
import type { WimEvent } from "../src/core/wim/events";
import type { GpuChoice } from "../src/engine/llama/runtime";
import { openLlamaEngine, type LlamaEngine } from "../src/engine/llama/llamaEngine";
import { llamaBench, llamaBenchBinary } from "./llamaBench";
import { runWithAddonShim } from "./addonShim";

runWithAddonShim();

const { values } = parseArgs({
  options: {
    model: { type: "string" },
    tokens: { type: "string", default: "32768" },
    "segment-tokens": { type: "string", default: "4096" },
    "margin-tokens": { type: "string", default: "100" },
    "answer-tokens": { type: "string", default: "100" },
    gpu: { type: "string", default: "auto" },
    "batch-size": { type: "string" },
    "flash-attention": { type: "string" },
    "kv-type": { type: "string", default: "f16" },
    lookup: { type: "boolean", default: false },
    threads: { type: "string" },
    "llama-bench": { type: "string" },
  },
});
const benchBin = llamaBenchBinary(values["llama-bench"]);
const settings = {
  tokens: Number(values.tokens),
  segmentTokens: Number(values["segment-tokens"]),
  marginTokens: Number(values["margin-tokens"]),
  answerTokens: Number(values["answer-tokens"]),
  gpu: values.gpu as GpuChoice,
  batchSize: values["batch-size"] ? Number(values["batch-size"]) : undefined,
  flashAttention: values["flash-attention"] === undefined ? undefined : values["flash-attention"] === "on",
  kvCacheType: values["kv-type"] as "f16" | "q8_0",
  promptLookup: values.lookup ?? false,
  threads: values.threads ? Number(values.threads) : undefined,
};
const QUESTION = "Which function multiplies its argument by 7919, and where is it defined?";
/** The share of relevant segments in the "1 in 8" runs. */
const oneInEight = (k: number): boolean => k % 8 === 0;

/** Code-like files, packed with the model's tokenizer, cut to `tokens`. */
function syntheticSegments(engine: LlamaEngine): Segment[] {
  const files = [];
  let estimate = 0;
  for (let f = 0; estimate < settings.tokens * 1.2; f++) {
    let text = "";
    for (let i = 0; i < 60; i++) text += `export function handler${f}_${i}(value: number): number {\n  return value * ${(f * 60 + i) % 9973} + ${i};\n}\n`;
    files.push({ path: `src/module${String(f).padStart(4, "0")}.ts`, text, bytes: text.length });
    estimate += engine.tokenizeText(text).length;
  }
  const { segments } = packFiles(files, { segmentTokens: settings.segmentTokens, countTokens: (t) => engine.tokenizeText(t).length });
  const out: Segment[] = [];
  let total = 0;
  for (const s of segments) {
    if (total + s.tokens > settings.tokens) break;
    out.push(s);
    total += s.tokens;
  }
  return out;
}

async function plain(engine: LlamaEngine, segmentTokens: number[][], margins: prompts.MarginForAnswer[] = []): Promise<{ ms: number; prefillMs: number; answerMs: number }> {
  const started = performance.now();
  const reader = engine.chatParts(prompts.READER_SYSTEM);
  const total = segmentTokens.reduce((n, t) => n + t.length, 0);
  const prompt = [...engine.tokenizeText(prompts.answerPrompt(margins, QUESTION)), ...reader.suffix];
  const [seq] = await engine.prepare({ tokensPerSequence: reader.prefix.length + 64 + total + prompt.length + settings.answerTokens, sequences: 1 });
  await seq!.append([...reader.prefix, ...engine.tokenizeText(prompts.CODEBASE_INTRO)]);
  for (const t of segmentTokens) await seq!.append(t);
  const prefillMs = performance.now() - started;
  const answerStarted = performance.now();
  for await (const _ of seq!.generate(prompt, { maxTokens: settings.answerTokens })) void _;
  return { ms: performance.now() - started, prefillMs, answerMs: performance.now() - answerStarted };
}

interface WimRun { ms: number; done: Extract<WimEvent, { type: "done" }>; firstMarginMs: number }

async function wim(engine: LlamaEngine, segments: Segment[], options: WimOptions): Promise<WimRun> {
  const started = performance.now();
  const session = new WimSession(engine, { segments, files: 0 }, QUESTION, { marginTokens: settings.marginTokens, answerTokens: settings.answerTokens, ...options });
  let done: WimRun["done"] | undefined;
  let firstMarginMs = 0;
  for await (const e of session.run()) {
    if (e.type === "margin-done" && e.segment === 0) firstMarginMs = performance.now() - started;
    if (e.type === "done") done = e;
    if (e.type === "error") throw new Error(e.message);
  }
  return { ms: performance.now() - started, done: done!, firstMarginMs };
}

/** Each segment alone plus its margin, then the plain run over everything with the margins. With `fused`, the same verdict as WiM's stops irrelevant margins. */
async function mapReduce(engine: LlamaEngine, segmentTokens: number[][], fused: boolean): Promise<{ ms: number; mapMs: number }> {
  const started = performance.now();
  const reader = engine.chatParts(prompts.READER_SYSTEM);
  const opening = [...reader.prefix, ...engine.tokenizeText(prompts.CODEBASE_INTRO)];
  const extract = [...engine.tokenizeText(fused ? prompts.fusedExtractivePrompt(QUESTION) : prompts.extractivePrompt(QUESTION)), ...reader.suffix];
  const v = verdict.verdictTokens(engine);
  const longest = Math.max(...segmentTokens.map((t) => t.length));
  const [seq] = await engine.prepare({ tokensPerSequence: opening.length + longest + extract.length + settings.marginTokens + verdict.longestYes(v), sequences: 1 });
  const margins: prompts.MarginForAnswer[] = [];
  for (const [i, t] of segmentTokens.entries()) {
    await seq!.truncate(0);
    await seq!.append([...opening, ...t]);
    let prompt = extract;
    if (fused) {
      const p = await seq!.nextTokenProbabilities(extract, verdict.candidates(v));
      if (!oneInEight(i)) continue;
      prompt = verdict.likeliestYes(v, p);
    }
    const out: number[] = [];
    for await (const tok of seq!.generate(prompt, { maxTokens: settings.marginTokens })) out.push(tok);
    margins.push({ segment: i, text: engine.detokenize(out) });
  }
  const mapMs = performance.now() - started;
  await plain(engine, segmentTokens, margins);
  return { ms: performance.now() - started, mapMs };
}

async function main(): Promise<void> {
  if (!values.model) throw new Error("usage: npm run bench -- --model FILE [--tokens N] [--segment-tokens N] [--margin-tokens N] [--gpu auto|cuda|vulkan|cpu] [--batch-size N] [--flash-attention on|off] [--kv-type f16|q8_0] [--lookup]");
  const engine = await openLlamaEngine({
    modelPath: values.model, gpu: settings.gpu, kvCacheType: settings.kvCacheType, promptLookup: settings.promptLookup,
    ...(settings.batchSize ? { batchSize: settings.batchSize } : {}), ...(settings.threads ? { threads: settings.threads } : {}),
    ...(settings.flashAttention !== undefined ? { flashAttention: settings.flashAttention } : {}),
  });
  const segments = syntheticSegments(engine);
  const segmentTokens = segments.map((s) => segmentChunks(s).flatMap((c) => engine.tokenizeText(c)));
  const total = segmentTokens.reduce((n, t) => n + t.length, 0);
  const log = (line: string): boolean => process.stderr.write(line + "\n");
  log(`${engine.info.backend}${engine.info.addonShim ? " with the addon shim" : ""}${engine.info.gpuNames.length ? ` (${engine.info.gpuNames.join(", ")})` : ""}: ${segments.length} segments, ${total} tokens`);

  // One context large enough for every run below, made before any timing: each run then reuses it.
  await engine.prepare({ tokensPerSequence: total + 8192, sequences: 2 });
  // Warm-up: a GPU compiles pipelines on the first passes over each batch shape.
  await wim(engine, segments.slice(0, 2), { classify: "separate" });
  await wim(engine, segments.slice(0, 2), { classify: "fused" });
  await plain(engine, segmentTokens.slice(0, 2));

  const p = await plain(engine, segmentTokens);
  log(`plain ${(p.ms / 1000).toFixed(2)} s`);
  const readerErases = (): { count: number; totalMs: number } => ({ ...(engine.erases[0] ?? { count: 0, totalMs: 0 }) });
  const erasesBefore = readerErases();
  const cap = await wim(engine, segments, { classify: "off" });
  const erasesAfter = readerErases();
  log(`WiM, every margin at its cap ${(cap.ms / 1000).toFixed(2)} s`);
  const gpuMemory = await engine.gpuMemoryUsed();
  const fused = await wim(engine, segments, { classify: "fused", judge: oneInEight });
  log(`WiM, fused verdict, 1 in 8 relevant ${(fused.ms / 1000).toFixed(2)} s`);
  // The same, with the last segment the relevant one: its margin is the last thing before the answer.
  const fusedLast = await wim(engine, segments, { classify: "fused", judge: (k) => k === segments.length - 1 });
  log(`WiM, fused verdict, the last segment relevant ${(fusedLast.ms / 1000).toFixed(2)} s`);
  const fusedAll = await wim(engine, segments, { classify: "fused", judge: () => true });
  log(`WiM, fused verdict, all relevant ${(fusedAll.ms / 1000).toFixed(2)} s`);
  const separate = await wim(engine, segments, { classify: "separate" });
  log(`WiM, separate classifier ${(separate.ms / 1000).toFixed(2)} s`);
  const mr = await mapReduce(engine, segmentTokens, false);
  log(`map-reduce ${(mr.ms / 1000).toFixed(2)} s`);
  const mrFused = await mapReduce(engine, segmentTokens, true);
  log(`map-reduce, fused verdict, 1 in 8 relevant ${(mrFused.ms / 1000).toFixed(2)} s`);

  const t = cap.done.timings;
  const marginS = t.marginMs / 1000;
  const firstSegmentPrefillS = (p.prefillMs / 1000) * (segmentTokens[0]!.length / total);
  const erases = { count: erasesAfter.count - erasesBefore.count, ms: erasesAfter.totalMs - erasesBefore.totalMs };
  const summary = (r: WimRun): Record<string, number> => ({
    s: r.ms / 1000, prefillS: r.done.timings.prefillMs / 1000, marginS: r.done.timings.marginMs / 1000, classifyS: r.done.timings.classifyMs / 1000,
    answerS: r.done.timings.answerMs / 1000, marginTokens: r.done.tokens.margins, firstMarginS: r.firstMarginMs / 1000,
  });
  const result = {
    backend: engine.info.backend,
    addonShim: engine.info.addonShim,
    gpu: engine.info.gpuNames,
    gpuLayers: `${engine.info.gpuLayers}/${engine.info.totalLayers}`,
    model: engine.shape,
    settings: { ...settings, segments: segments.length, totalTokens: total },
    gpuMemoryUsedMiB: Math.round(gpuMemory / 2 ** 20),
    plain: { s: p.ms / 1000, prefillS: p.prefillMs / 1000, answerS: p.answerMs / 1000, prefillTokensPerS: total / (p.prefillMs / 1000) },
    wimAtCap: { ...summary(cap), marginTokensPerS: cap.done.tokens.margins / marginS, prefillTokensPerS: total / (t.prefillMs / 1000) },
    wimFusedOneInEight: summary(fused),
    wimFusedLastRelevant: summary(fusedLast),
    wimFusedAllRelevant: summary(fusedAll),
    wimSeparateClassifier: summary(separate),
    mapReduce: { s: mr.ms / 1000, mapS: mr.mapMs / 1000 },
    mapReduceFusedOneInEight: { s: mrFused.ms / 1000, mapS: mrFused.mapMs / 1000 },
    erase: { count: erases.count, avgMs: erases.ms / Math.max(1, erases.count) },
    ratios: {
      wimOneInEightOverPlain: fused.ms / p.ms,
      wimAtCapOverPlain: cap.ms / p.ms,
      wimFusedLastOverPlain: fusedLast.ms / p.ms,
      wimFusedAllOverPlain: fusedAll.ms / p.ms,
      wimSeparateOverPlain: separate.ms / p.ms,
      mapReduceOverWimAtCap: mr.ms / cap.ms,
      mapReduceOverWimOneInEight: mr.ms / fused.ms,
      mapReduceFusedOverWimOneInEight: mrFused.ms / fused.ms,
      // WiM should cost nothing beyond its margins' own decoding: (WiM - plain) / margin time near 1.
      wimExtraOverMarginTime: (cap.ms - p.ms) / 1000 / marginS,
      wimPrefillOverPlainPrefill: p.prefillMs / t.prefillMs,
      firstMarginOverPrefillPlusMargin: (cap.firstMarginMs / 1000) / (firstSegmentPrefillS + marginS / segments.length),
    },
  };
  // The engine's own prompt rate on the same model and batch size, after ours (never at once).
  const batch = typeof engine.shape.batchSize === "number" ? engine.shape.batchSize : 2048;
  const asEngine = { batch, gpu: engine.info.backend !== "cpu", ...(settings.threads ? { threads: settings.threads } : {}) };
  const limit = benchBin ? llamaBench(benchBin, values.model!, { prompt: 4096, ...asEngine }) : undefined;
  // pp4096 starts every batch near depth 0; plain prefill reads the whole prompt, and each batch
  // attends to all before it. The same prompt length at node-llama-cpp's micro-batch (it sets
  // n_ubatch = n_batch) separates what depth costs the engine itself from what the project adds.
  const same = benchBin ? llamaBench(benchBin, values.model!, { prompt: result.settings.totalTokens, ubatch: batch, ...asEngine }) : undefined;
  const llamaBenchRow = limit && same ? {
    promptTokensPerS: limit.tokensPerSecond, batch, plainPrefillOverLlamaBench: result.plain.prefillTokensPerS / limit.tokensPerSecond,
    samePrompt: { prompt: same.prompt, ubatch: batch, promptTokensPerS: same.tokensPerSecond, plainPrefillOverIt: result.plain.prefillTokensPerS / same.tokensPerSecond, overPp4096: same.tokensPerSecond / limit.tokensPerSecond },
  } : undefined;
  const f = (x: number): string => x.toFixed(2);
  const r = result.ratios;
  if (llamaBenchRow) {
    const { samePrompt: sp } = llamaBenchRow;
    console.log(`llama-bench pp4096 b${batch}    ${Math.round(llamaBenchRow.promptTokensPerS)} tok/s; plain prefill / llama-bench = ${f(llamaBenchRow.plainPrefillOverLlamaBench)}x`);
    console.log(`llama-bench pp${sp.prompt} b${batch} ub${batch} (this prompt, this micro-batch)    ${Math.round(sp.promptTokensPerS)} tok/s; plain prefill / it = ${f(sp.plainPrefillOverIt)}x; it / pp4096 = ${f(sp.overPp4096)}x`);
  }
  console.log(`plain                      ${f(result.plain.s)} s  (prefill ${f(result.plain.prefillS)} s, ${Math.round(result.plain.prefillTokensPerS)} tok/s; answer ${f(result.plain.answerS)} s)`);
  console.log(`WiM, margins at cap        ${f(cap.ms / 1000)} s  (prefill ${f(t.prefillMs / 1000)} s, margins ${f(marginS)} s at ${Math.round(result.wimAtCap.marginTokensPerS)} tok/s, answer ${f(t.answerMs / 1000)} s)`);
  console.log(`WiM, fused, 1 in 8         ${f(fused.ms / 1000)} s  (margins and verdicts ${f(fused.done.timings.marginMs / 1000)} s, ${fused.done.tokens.margins} margin tokens)`);
  console.log(`WiM, fused, the last one   ${f(fusedLast.ms / 1000)} s  (the one relevant segment the last: ${f(r.wimFusedLastOverPlain)} of plain)`);
  console.log(`WiM, fused, all relevant   ${f(fusedAll.ms / 1000)} s`);
  console.log(`WiM, separate classifier   ${f(separate.ms / 1000)} s  (classification ${f(separate.done.timings.classifyMs / 1000)} s, overlapped with prefill)`);
  console.log(`map-reduce                 ${f(mr.ms / 1000)} s  (map ${f(mr.mapMs / 1000)} s); with the fused verdict, 1 in 8: ${f(mrFused.ms / 1000)} s`);
  console.log(`erase                      ${result.erase.avgMs.toFixed(3)} ms average over ${result.erase.count} (reader sequence)`);
  console.log(`ratios                     WiM/plain: 1 in 8 ${f(r.wimOneInEightOverPlain)}, at cap ${f(r.wimAtCapOverPlain)}; map-reduce/WiM: at cap ${f(r.mapReduceOverWimAtCap)}, vs fused 1 in 8 ${f(r.mapReduceOverWimOneInEight)}, both fused ${f(r.mapReduceFusedOverWimOneInEight)}`);
  console.log(`                           (WiM-plain)/margin time ${f(r.wimExtraOverMarginTime)}; WiM prefill rate / plain ${f(r.wimPrefillOverPlainPrefill)}; first margin / (prefill + margin) ${f(r.firstMarginOverPrefillPlusMargin)}`);
  console.log(JSON.stringify({ ...result, ...(llamaBenchRow ? { llamaBench: llamaBenchRow } : {}) }));
  await engine.dispose();
}

main().catch((err) => {
  console.error(`bench: ${(err as Error).message}`);
  process.exitCode = 1;
});
