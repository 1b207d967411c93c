// npm run bench -- --model FILE [--tokens N] [--segment-tokens N] [--margin-tokens N] [--answer-tokens N] [--gpu G]
// In one process, on one engine, in one run: plain chunked prefill plus an answer; WiM with every
// margin at its cap (random-weight models rarely stop early), without and with classification; and the
// map-reduce baseline (each segment alone plus its margin, then the plain run). Prints times,
// prefill and margin tokens/s, the ratios, and a final JSON line with every setting.
import { parseArgs } from "node:util";
import { packFiles, segmentChunks, type Segment } from "../src/core/pack/packer";
import * as prompts from "../src/core/wim/prompts";
import { WimSession } from "../src/core/wim/session";
import type { WimEvent } from "../src/core/wim/events";
import type { GpuChoice } from "../src/engine/llama";
import { openLlamaEngine, type LlamaEngine } from "../src/engine/llamaEngine";

const { values } = parseArgs({
  options: {
    model: { type: "string" },
    tokens: { type: "string", default: "32768" },
    "segment-tokens": { type: "string", default: "4096" },
    "margin-tokens": { type: "string", default: "100" },
    "answer-tokens": { type: "string", default: "100" },
    gpu: { type: "string", default: "auto" },
    "batch-size": { type: "string" },
    threads: { type: "string" },
  },
});
const settings = {
  tokens: Number(values.tokens),
  segmentTokens: Number(values["segment-tokens"]),
  marginTokens: Number(values["margin-tokens"]),
  answerTokens: Number(values["answer-tokens"]),
  gpu: values.gpu as GpuChoice,
  batchSize: values["batch-size"] ? Number(values["batch-size"]) : undefined,
  threads: values.threads ? Number(values.threads) : undefined,
};
const QUESTION = "Which function multiplies its argument by 7919, and where is it defined?";

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

async function wim(engine: LlamaEngine, segments: Segment[], classify: boolean): Promise<{ ms: number; done: Extract<WimEvent, { type: "done" }>; firstMarginMs: number; margins: prompts.MarginForAnswer[] }> {
  const started = performance.now();
  const session = new WimSession(engine, { segments, files: 0 }, QUESTION, { marginTokens: settings.marginTokens, answerTokens: settings.answerTokens, classify });
  let done: Extract<WimEvent, { type: "done" }> | undefined;
  let firstMarginMs = 0;
  for await (const e of session.run()) {
    if (e.type === "margin-done" && e.segment === 0) firstMarginMs = performance.now() - started;
    if (e.type === "done") done = e;
    if (e.type === "error") throw new Error(e.message);
  }
  return { ms: performance.now() - started, done: done!, firstMarginMs, margins: session.margins.map((m) => ({ segment: m.segment, text: m.text })) };
}

async function mapReduce(engine: LlamaEngine, segmentTokens: number[][]): Promise<{ ms: number; mapMs: number }> {
  const started = performance.now();
  const reader = engine.chatParts(prompts.READER_SYSTEM);
  const opening = [...reader.prefix, ...engine.tokenizeText(prompts.CODEBASE_INTRO)];
  const extract = [...engine.tokenizeText(prompts.extractivePrompt(QUESTION)), ...reader.suffix];
  const longest = Math.max(...segmentTokens.map((t) => t.length));
  const [seq] = await engine.prepare({ tokensPerSequence: opening.length + longest + extract.length + settings.marginTokens, sequences: 1 });
  const margins: prompts.MarginForAnswer[] = [];
  for (const [i, t] of segmentTokens.entries()) {
    await seq!.truncate(0);
    await seq!.append([...opening, ...t]);
    const out: number[] = [];
    for await (const tok of seq!.generate(extract, { maxTokens: settings.marginTokens })) out.push(tok);
    margins.push({ segment: i, text: engine.detokenize(out) });
  }
  const mapMs = performance.now() - started;
  await plain(engine, segmentTokens, margins);
  return { ms: performance.now() - started, mapMs };
}

async function main(): Promise<void> {
  if (!values.model) throw new Error("usage: npm run bench -- --model FILE [--tokens N] [--segment-tokens N] [--margin-tokens N] [--gpu auto|cuda|vulkan|cpu]");
  const engine = await openLlamaEngine({ modelPath: values.model, gpu: settings.gpu, ...(settings.batchSize ? { batchSize: settings.batchSize } : {}), ...(settings.threads ? { threads: settings.threads } : {}) });
  const segments = syntheticSegments(engine);
  const segmentTokens = segments.map((s) => segmentChunks(s).flatMap((c) => engine.tokenizeText(c)));
  const total = segmentTokens.reduce((n, t) => n + t.length, 0);
  process.stderr.write(`${engine.info.backend}${engine.info.gpuNames.length ? ` (${engine.info.gpuNames.join(", ")})` : ""}: ${segments.length} segments, ${total} tokens\n`);

  // Warm-up: a GPU compiles pipelines on the first passes over each batch shape.
  await wim(engine, segments.slice(0, 2), true);
  await plain(engine, segmentTokens.slice(0, 2));

  const p = await plain(engine, segmentTokens);
  process.stderr.write(`plain ${(p.ms / 1000).toFixed(2)} s\n`);
  const readerErases = (): { count: number; totalMs: number } => ({ ...(engine.erases[0] ?? { count: 0, totalMs: 0 }) });
  const erasesBefore = readerErases();
  const w = await wim(engine, segments, false);
  process.stderr.write(`wim ${(w.ms / 1000).toFixed(2)} s\n`);
  const erasesAfter = readerErases();
  const erases = { count: erasesAfter.count - erasesBefore.count, ms: erasesAfter.totalMs - erasesBefore.totalMs };
  const wc = await wim(engine, segments, true);
  process.stderr.write(`wim with classification ${(wc.ms / 1000).toFixed(2)} s\n`);
  const m = await mapReduce(engine, segmentTokens);
  process.stderr.write(`map-reduce ${(m.ms / 1000).toFixed(2)} s\n`);

  const t = w.done.timings;
  const marginS = t.marginMs / 1000;
  const firstSegmentPrefillS = (p.prefillMs / 1000) * (segmentTokens[0]!.length / total);
  const result = {
    backend: engine.info.backend,
    gpu: engine.info.gpuNames,
    gpuLayers: `${engine.info.gpuLayers}/${engine.info.totalLayers}`,
    model: engine.shape,
    settings: { ...settings, segments: segments.length, totalTokens: total },
    plain: { s: p.ms / 1000, prefillS: p.prefillMs / 1000, answerS: p.answerMs / 1000, prefillTokensPerS: total / (p.prefillMs / 1000) },
    wim: {
      s: w.ms / 1000, prefillS: t.prefillMs / 1000, marginS, classifyS: t.classifyMs / 1000, answerS: t.answerMs / 1000,
      marginTokens: w.done.tokens.margins, marginTokensPerS: w.done.tokens.margins / marginS, prefillTokensPerS: total / (t.prefillMs / 1000),
      firstMarginS: w.firstMarginMs / 1000,
    },
    wimClassified: { s: wc.ms / 1000, prefillS: wc.done.timings.prefillMs / 1000, marginS: wc.done.timings.marginMs / 1000, classifyS: wc.done.timings.classifyMs / 1000 },
    mapReduce: { s: m.ms / 1000, mapS: m.mapMs / 1000 },
    erase: { count: erases.count, avgMs: erases.ms / Math.max(1, erases.count) },
    ratios: {
      wimOverPlain: w.ms / p.ms,
      mapReduceOverWim: m.ms / w.ms,
      wimClassifiedOverPlain: wc.ms / p.ms,
      mapReduceOverWimClassified: m.ms / wc.ms,
      // WiM should cost nothing beyond its margins' own decoding: (WiM - plain) / margin time near 1.
      wimExtraOverMarginTime: (w.ms - p.ms) / 1000 / marginS,
      wimPrefillOverPlainPrefill: (total / (t.prefillMs / 1000)) / (total / (p.prefillMs / 1000)),
      firstMarginOverPrefillPlusMargin: (w.firstMarginMs / 1000) / (firstSegmentPrefillS + marginS / segments.length),
    },
  };
  const f = (x: number): string => x.toFixed(2);
  console.log(`plain        ${f(result.plain.s)} s  (prefill ${f(result.plain.prefillS)} s, ${Math.round(result.plain.prefillTokensPerS)} tok/s; answer ${f(result.plain.answerS)} s)`);
  console.log(`WiM          ${f(result.wim.s)} s  (prefill ${f(result.wim.prefillS)} s, margins ${f(marginS)} s at ${Math.round(result.wim.marginTokensPerS)} tok/s, answer ${f(result.wim.answerS)} s)`);
  console.log(`WiM+classify ${f(result.wimClassified.s)} s  (prefill ${f(result.wimClassified.prefillS)} s, margins ${f(result.wimClassified.marginS)} s, classification ${f(result.wimClassified.classifyS)} s, overlapped with prefill)`);
  console.log(`map-reduce   ${f(result.mapReduce.s)} s  (map ${f(result.mapReduce.mapS)} s)`);
  console.log(`erase        ${result.erase.avgMs.toFixed(3)} ms average over ${result.erase.count} (reader sequence)`);
  console.log(`ratios       WiM/plain ${f(result.ratios.wimOverPlain)}, map-reduce/WiM ${f(result.ratios.mapReduceOverWim)}, (WiM-plain)/margin time ${f(result.ratios.wimExtraOverMarginTime)}; with classification: WiM/plain ${f(result.ratios.wimClassifiedOverPlain)}, map-reduce/WiM ${f(result.ratios.mapReduceOverWimClassified)}`);
  console.log(JSON.stringify(result));
  await engine.dispose();
}

main().catch((err) => {
  console.error(`bench: ${(err as Error).message}`);
  process.exitCode = 1;
});
