// npm run bench:warm -- --model FILE [--tokens N] [--segment-tokens N] [--margin-tokens N] [--answer-tokens N] [--gpu G] [--context N]
// The warm codebase cache, in one process and one run, on a folder of real files written for it
// (recent-last order, as the CLI and the extension read): a first question (cold, then saved); a
// second question on the unchanged codebase (warm) against the same question cold; an edit to the
// last file; an edit to a file in the middle, twice (the first edit moves it to the end, so
// everything after its old place is packed anew; the second reuses all but the end). Relevance is
// fixed to 1 segment in 8, as in bench/wim.ts. --context N reads with at most N tokens of context,
// so that a codebase larger than it is read (and cached) in windows. Prints the figures and a final JSON line.
import { createHash } from "node:crypto";
import { appendFileSync, mkdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { DiskStateCache } from "../src/core/cache/stateCache";
import { planCodebase, type CodebasePlan } from "../src/core/plan";
import type { RunTimings, WimEvent } from "../src/core/wim/events";
import { WimSession } from "../src/core/wim/session";
import type { GpuChoice } from "../src/engine/llama/runtime";
import { openLlamaEngine, type LlamaEngine } from "../src/engine/llama/llamaEngine";
import { tempDir } from "../test/support/fixtures";
import { runWithAddonShim } from "./addonShim";
import { mergeTailWanted } from "../src/engine/llama/llamaSequence";

/** Why a GPU's warm margins can differ from cold ones in their bits, and how to compare them bit for bit. */
const BATCH_SHAPES = " (a cold reading sends each segment's tail in one batch with its prompt, a warm one the prompt alone: " +
  "GPU kernels round by batch shape, and a random-weight model's greedy text follows the last bit; ASK_CODEBASE_MERGE_TAIL=off compares bit for bit)";

runWithAddonShim();

const { values } = parseArgs({
  options: {
    model: { type: "string" },
    tokens: { type: "string", default: "28000" },
    "segment-tokens": { type: "string", default: "4096" },
    "margin-tokens": { type: "string", default: "100" },
    "answer-tokens": { type: "string", default: "100" },
    gpu: { type: "string", default: "auto" },
    threads: { type: "string" },
    context: { type: "string" },
  },
});
const settings = {
  tokens: Number(values.tokens), segmentTokens: Number(values["segment-tokens"]), marginTokens: Number(values["margin-tokens"]),
  answerTokens: Number(values["answer-tokens"]), gpu: values.gpu as GpuChoice, threads: values.threads ? Number(values.threads) : undefined,
  contextTokens: values.context ? Number(values.context) : undefined,
};
const FIRST = "Which function multiplies its argument by 7919, and where is it defined?";
const SECOND = "Which handler adds 17 to its result?";

interface Run { s: number; windows: number; reused: number; prefilled: number; total: number; saveS: number; saved: boolean; margins: string[]; answer: string; timings: RunTimings; answerParts: AnswerParts }
/** The answer's time from its start: to its first token (room, the prompt's prefill, one step), then per token after it. */
interface AnswerParts { firstTokenS: number; tokens: number; perTokenMs: number }

/** Where a question's time went, from the run's own timings; "other" is restoring the cache, planning the windows and events. */
function split(r: Run): Record<string, number> {
  const t = r.timings;
  const other = t.totalMs - t.prefillMs - t.marginMs - t.classifyMs - t.answerMs;
  return { prefillS: t.prefillMs / 1000, marginS: t.marginMs / 1000, classifyS: t.classifyMs / 1000, answerS: t.answerMs / 1000, otherS: other / 1000 };
}
const splitText = (r: Run): string => Object.entries(split(r)).map(([k, v]) => `${k.replace(/S$/, "")} ${v.toFixed(2)}`).join(", ") +
  ` s (the answer: first token ${r.answerParts.firstTokenS.toFixed(3)} s, ${r.answerParts.tokens} tokens in all, ${r.answerParts.perTokenMs.toFixed(2)} ms each after it)`;

async function ask(engine: LlamaEngine, plan: CodebasePlan, question: string, cache?: DiskStateCache): Promise<Run> {
  const started = performance.now();
  const session = new WimSession(engine, { segments: plan.segments, files: plan.files.length }, question, {
    marginTokens: settings.marginTokens, answerTokens: settings.answerTokens, judge: (k) => k % 8 === 0, ...(cache ? { cache } : {}),
    ...(settings.contextTokens ? { contextTokens: settings.contextTokens } : {}),
  });
  let done: Extract<WimEvent, { type: "done" }> | undefined;
  let doneAt = 0;
  let reused = 0;
  let total = 0;
  let windows = 0;
  let saved = false;
  let answerAt = 0;
  let firstAnswerAt = 0;
  for await (const e of session.run()) {
    if (e.type === "answer-started") answerAt = performance.now();
    if (e.type === "answer-token" && !firstAnswerAt) firstAnswerAt = performance.now();
    if (e.type === "run-started") { reused = e.reusedSegments; total = e.tokens; windows = e.windows; }
    if (e.type === "done") { done = e; doneAt = performance.now(); }
    if (e.type === "error") throw new Error(e.message);
    if (e.type === "cache-saved") saved ||= !e.error && e.bytes > 0;
  }
  // The question is answered at `done`; saving for the next one comes after it.
  const answerTokens = done!.tokens.answer;
  const answerParts = { firstTokenS: (firstAnswerAt - answerAt) / 1000, tokens: answerTokens, perTokenMs: answerTokens > 1 ? (doneAt - firstAnswerAt) / (answerTokens - 1) : 0 };
  return { answerParts, s: (doneAt - started) / 1000, windows, reused, prefilled: done!.tokens.prefilled, total, saveS: (performance.now() - doneAt) / 1000, saved, margins: session.margins.map((m) => m.text), answer: done!.answer, timings: done!.timings };
}

async function main(): Promise<void> {
  if (!values.model) throw new Error("usage: npm run bench:warm -- --model FILE [--tokens N] [--segment-tokens N] [--gpu auto|vulkan|cpu]");
  const engine = await openLlamaEngine({ modelPath: values.model, gpu: settings.gpu, ...(settings.threads ? { threads: settings.threads } : {}) });
  const work = tempDir("ask-codebase-warm-");
  try {
    const repo = join(work.path, "repo");
    const cache = new DiskStateCache(join(work.path, "cache"), 64 * 2 ** 30);
    // Files last touched two days ago, each ~1/40 of the budget, so an edit is one typical file.
    const old = new Date(Date.now() - 2 * 86400_000);
    const perFile = Math.max(8, Math.round(settings.tokens / 40 / 30));
    let written = 0;
    const files: string[] = [];
    for (let f = 0; written < settings.tokens * 0.97; f++) {
      let text = "";
      for (let i = 0; i < perFile; i++) text += `export function handler${f}_${i}(value: number): number {\n  return value * ${(f * 60 + i) % 9973} + ${i};\n}\n`;
      const rel = `src/module${String(f).padStart(4, "0")}.ts`;
      mkdirSync(join(repo, "src"), { recursive: true });
      writeFileSync(join(repo, rel), text);
      utimesSync(join(repo, rel), old, old);
      files.push(rel);
      written += engine.tokenizeText(text).length;
    }
    const plan = (): Promise<CodebasePlan> => planCodebase([repo], { segmentTokens: settings.segmentTokens, countTokens: (t) => engine.tokenizeText(t).length, order: "recent-last" });
    const log = (line: string): boolean => process.stderr.write(line + "\n");
    const p = await plan();
    log(`${engine.info.backend}${engine.info.addonShim ? " with the addon shim" : ""}${engine.info.sharesCells ? ", warm margins on forks of the reader" : ""}${engine.info.gpuNames.length ? ` (${engine.info.gpuNames.join(", ")})` : ""}: ${p.files.length} files, ${p.totalTokens} tokens, ${p.segments.length} segments`);
    // Warm-up (pipelines, the context at its full size), on a cache of its own.
    await ask(engine, p, FIRST, new DiskStateCache(join(work.path, "warmup"), 64 * 2 ** 30));

    const first = await ask(engine, p, FIRST, cache);
    log(`first question, cold: ${first.s.toFixed(2)} s (then ${first.saveS.toFixed(2)} s to save the state): ${splitText(first)}`);
    if (!first.saved) throw new Error("nothing was cached");
    if (first.windows > 1) log(`read in ${first.windows} windows of at most ${settings.contextTokens} tokens of context, each cached`);
    const coldSecond = await ask(engine, p, SECOND);
    log(`second question, cold: ${coldSecond.s.toFixed(2)} s`);
    const warmSecond = await ask(engine, p, SECOND, cache);
    log(`second question, warm: ${warmSecond.s.toFixed(2)} s, ${warmSecond.reused} of ${p.segments.length} segments from the cache: ${splitText(warmSecond)}`);
    const identical = JSON.stringify([warmSecond.margins, warmSecond.answer]) === JSON.stringify([coldSecond.margins, coldSecond.answer]);

    // Numbered, not timed: the same edits give the same text, so two builds' outputs can be compared.
    let edits = 0;
    const edit = async (rel: string): Promise<Run> => {
      appendFileSync(join(repo, rel), `export const edited${++edits} = 1;\n`);
      return ask(engine, await plan(), SECOND, cache);
    };
    const lastFile = p.files.at(-1)!.path;
    const editLast = await edit(lastFile);
    log(`edit to the last file: ${editLast.s.toFixed(2)} s, ${(100 * (1 - editLast.prefilled / editLast.total)).toFixed(1)}% of the prefill reused`);
    const middle = files[Math.floor(files.length / 2)]!;
    const editMiddle = await edit(middle);
    log(`first edit to a file in the middle: ${editMiddle.s.toFixed(2)} s, ${(100 * (1 - editMiddle.prefilled / editMiddle.total)).toFixed(1)}% reused`);
    const editMiddleAgain = await edit(middle);
    log(`second edit to it: ${editMiddleAgain.s.toFixed(2)} s, ${(100 * (1 - editMiddleAgain.prefilled / editMiddleAgain.total)).toFixed(1)}% reused`);
    const stats = await cache.stats();
    const reuse = (r: Run): number => 1 - r.prefilled / r.total;
    // Every margin and answer of the run: equal digests on two builds of the engine mean equal outputs.
    const outputs = createHash("sha256").update(JSON.stringify([first, coldSecond, warmSecond, editLast, editMiddle, editMiddleAgain].map((r) => [r.margins, r.answer]))).digest("hex").slice(0, 16);
    const result = {
      backend: engine.info.backend, addonShim: engine.info.addonShim, gpu: engine.info.gpuNames, model: engine.shape,
      settings: { ...settings, files: p.files.length, segments: p.segments.length, totalTokens: p.totalTokens },
      windows: first.windows, firstColdS: first.s, saveS: first.saveS, stateBytes: stats.bytes / stats.entries,
      secondColdS: coldSecond.s, secondWarmS: warmSecond.s, warmIdenticalToCold: identical, outputs,
      split: { first: split(first), secondWarm: split(warmSecond) }, answerParts: { first: first.answerParts, secondWarm: warmSecond.answerParts },
      editLast: { s: editLast.s, reusedPrefill: reuse(editLast) },
      editMiddleFirst: { s: editMiddle.s, reusedPrefill: reuse(editMiddle) },
      editMiddleSecond: { s: editMiddleAgain.s, reusedPrefill: reuse(editMiddleAgain) },
      ratios: { secondWarmOverFirst: warmSecond.s / first.s, secondWarmOverSecondCold: warmSecond.s / coldSecond.s, editLastReusedPrefill: reuse(editLast) },
    };
    const f = (x: number): string => x.toFixed(2);
    console.log(`second question warm / first question: ${f(result.ratios.secondWarmOverFirst)} (warm / the same question cold: ${f(result.ratios.secondWarmOverSecondCold)}); identical margins and answer: ${identical}${identical || !mergeTailWanted() || engine.info.backend === "cpu" ? "" : BATCH_SHAPES}`);
    console.log(`edit to the last file: ${(100 * reuse(editLast)).toFixed(1)}% of the prefill reused; a middle file: ${(100 * reuse(editMiddle)).toFixed(1)}% on its first edit, ${(100 * reuse(editMiddleAgain)).toFixed(1)}% on the next`);
    console.log(`state file ${(result.stateBytes / 2 ** 20).toFixed(0)} MiB, saved in ${f(first.saveS)} s after the answer`);
    console.log(`outputs (every margin and answer above): sha256 ${outputs}`);
    console.log(JSON.stringify(result));
  } finally {
    await engine.dispose();
    work.dispose();
  }
}

main().catch((err) => {
  console.error(`bench:warm: ${(err as Error).message}`);
  process.exitCode = 1;
});
