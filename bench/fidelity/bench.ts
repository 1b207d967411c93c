// npm run bench:fidelity -- --model FILE [--tasks 12] [--lengths 1,2,4] [--segment-tokens 1024] [--gpu cpu]
// Answer fidelity on held-out synthetic codebases (task.ts, seeds far from any training range):
// plain reading (what fits the context, then the question), WiM with the fused and the separate
// verdict (the product's own WimSession), and map-reduce (each segment alone with the fused
// verdict and a margin, then the answer from what fits plus the notes). Per reading: the answer
// names the value, cites the definition's path:line, verdict precision and recall per segment
// against task.ts's gold, tokens evaluated and time. On codebases longer than the context, WiM
// also reads relevance-first (the planner's rankFiles): the share of the codebase read up to
// the first segment judged relevant (and the first that is), beside reading in path order.
// It measures the pipeline with a model trained for this task, not the quality of any real model.
import { parseArgs } from "node:util";
import type { Segment } from "../../src/core/pack/packer";
import { rankFiles } from "../../src/core/pack/relevance";
import * as prompts from "../../src/core/wim/prompts";
import { WimSession } from "../../src/core/wim/session";
import * as verdict from "../../src/core/wim/verdict";
import type { WimEvent } from "../../src/core/wim/events";
import type { GpuChoice } from "../../src/engine/llama/runtime";
import { openLlamaEngine, type LlamaEngine } from "../../src/engine/llama/llamaEngine";
import { goldMargins, makeTask, type Task } from "./task";
import { packTask, TRAINING_CHARS } from "./examples";
import { runWithAddonShim } from "../addonShim";

runWithAddonShim();

const { values } = parseArgs({
  options: {
    model: { type: "string" }, tasks: { type: "string", default: "12" }, lengths: { type: "string", default: "1,2,4" },
    "segment-tokens": { type: "string", default: "1024" }, gpu: { type: "string", default: "cpu" }, seed: { type: "string", default: "900000000" },
    modes: { type: "string", default: "plain,fused,separate,map-reduce" }, verbose: { type: "boolean", default: false },
  },
});
const MARGIN_TOKENS = 64;
const ANSWER_TOKENS = 64;
const segmentTokens = Number(values["segment-tokens"]);

interface Score { answered: boolean; cited: boolean; verdicts: { tp: number; fp: number; fn: number }; tokens: number; ms: number; firstRelevantShare?: number; goldFirstShare?: number }

/** The share of the codebase's tokens read up to and including segment `k` (all of it when there is none). */
function shareThrough(segments: readonly Segment[], k: number | undefined): number {
  const total = segments.reduce((n, s) => n + s.tokenIds!.length, 0);
  return k === undefined || k < 0 ? 1 : segments.slice(0, k + 1).reduce((n, s) => n + s.tokenIds!.length, 0) / total;
}

function scoreAnswer(task: Task, answer: string): { answered: boolean; cited: boolean } {
  return { answered: answer.includes(task.value.replace(/^"|"$/g, "")), cited: answer.includes(`${task.at.path}:${task.at.line}`) };
}

function countVerdicts(gold: readonly (string | undefined)[], judged: ReadonlyMap<number, boolean>): Score["verdicts"] {
  const v = { tp: 0, fp: 0, fn: 0 };
  for (const [k, relevant] of judged) {
    if (relevant && gold[k]) v.tp++;
    else if (relevant) v.fp++;
    else if (gold[k]) v.fn++;
  }
  return v;
}

/** The opening, then as many whole segments as leave room for the prompt and the answer. */
function fitting(engine: LlamaEngine, segments: readonly Segment[], promptTokens: number): Segment[] {
  const room = engine.info.trainContextSize - 64 - promptTokens - ANSWER_TOKENS;
  const out: Segment[] = [];
  let used = 0;
  for (const s of segments) {
    if (used + s.tokenIds!.length > room) break;
    used += s.tokenIds!.length;
    out.push(s);
  }
  return out;
}

async function answerOver(engine: LlamaEngine, task: Task, segments: readonly Segment[], notes: prompts.MarginForAnswer[]): Promise<string> {
  const reader = engine.chatParts(prompts.READER_SYSTEM);
  const prompt = [...engine.tokenizeText(prompts.answerPrompt(notes, task.question)), ...reader.suffix];
  const opening = [...reader.prefix, ...engine.tokenizeText(prompts.CODEBASE_INTRO)];
  const [seq] = await engine.prepare({ tokensPerSequence: engine.info.trainContextSize, sequences: 1 });
  await seq!.truncate(0);
  await seq!.append(opening);
  for (const s of fitting(engine, segments, opening.length + prompt.length)) await seq!.append(s.tokenIds!);
  const out: number[] = [];
  for await (const t of seq!.generate(prompt, { maxTokens: ANSWER_TOKENS })) out.push(t);
  return engine.detokenize(out);
}

async function plain(engine: LlamaEngine, task: Task, segments: readonly Segment[]): Promise<Score> {
  const answer = await answerOver(engine, task, segments, []);
  return { ...scoreAnswer(task, answer), verdicts: { tp: 0, fp: 0, fn: 0 }, tokens: 0, ms: 0 };
}

async function mapReduce(engine: LlamaEngine, task: Task, segments: readonly Segment[], gold: readonly (string | undefined)[]): Promise<Score> {
  const reader = engine.chatParts(prompts.READER_SYSTEM);
  const opening = [...reader.prefix, ...engine.tokenizeText(prompts.CODEBASE_INTRO)];
  const extract = [...engine.tokenizeText(prompts.fusedExtractivePrompt(task.question)), ...reader.suffix];
  const v = verdict.verdictTokens(engine);
  const [seq] = await engine.prepare({ tokensPerSequence: engine.info.trainContextSize, sequences: 1 });
  const notes: prompts.MarginForAnswer[] = [];
  const judged = new Map<number, boolean>();
  for (const [k, s] of segments.entries()) {
    await seq!.truncate(0);
    await seq!.append([...opening, ...s.tokenIds!]);
    const p = await seq!.nextTokenProbabilities(extract, verdict.candidates(v));
    judged.set(k, verdict.byScore(k, verdict.score(v, p)));
    if (!judged.get(k)) continue;
    const out: number[] = [];
    for await (const t of seq!.generate(verdict.likeliestYes(v, p), { maxTokens: MARGIN_TOKENS })) out.push(t);
    notes.push({ segment: k, text: engine.detokenize(out).replace(verdict.VERDICT_SEPARATOR, "") });
  }
  const answer = await answerOver(engine, task, segments, notes);
  return { ...scoreAnswer(task, answer), verdicts: countVerdicts(gold, judged), tokens: 0, ms: 0 };
}

/** The product's own reading; `windowOf` (from its events) says which segments shared the reader's context. */
async function wim(engine: LlamaEngine, task: Task, segments: readonly Segment[], placedGold: (windowOf: (k: number) => number) => (string | undefined)[], classify: "fused" | "separate"): Promise<Score & { answer: string; margins: string[] }> {
  const session = new WimSession(engine, { segments, files: task.files.length }, task.question, { marginTokens: MARGIN_TOKENS, answerTokens: ANSWER_TOKENS, classify });
  const windowStarts: number[] = [0];
  const judged = new Map<number, boolean>();
  let done: Extract<WimEvent, { type: "done" }> | undefined;
  let first: number | undefined;
  for await (const e of session.run()) {
    if (e.type === "window-started") windowStarts.push(e.firstSegment);
    if (e.type === "margin-classified") { judged.set(e.segment, e.relevant); if (e.relevant && first === undefined) first = e.segment; }
    if (e.type === "error") throw new Error(e.message);
    if (e.type === "done") done = e;
  }
  const windowOf = (k: number): number => windowStarts.filter((s) => s <= k).length - 1;
  const gold = placedGold(windowOf);
  return {
    ...scoreAnswer(task, done!.answer), verdicts: countVerdicts(gold, judged), tokens: 0, ms: 0,
    // By the model's verdicts, and by the gold ones (what a reader that judges right would read).
    firstRelevantShare: shareThrough(segments, first), goldFirstShare: shareThrough(segments, gold.findIndex((g) => g !== undefined)),
    answer: done!.answer, margins: session.margins.map((m) => `${m.segment}${m.relevant ? "+" : "-"} ${m.text.trim()}`),
  };
}

/** The same codebase packed with the files likeliest to answer first, as the planner orders them. */
function relevanceFirst(task: Task): Task {
  const order = rankFiles(task.files, task.question).order;
  const place = new Map(order.map((p, i) => [p, i]));
  return { ...task, files: [...task.files].sort((a, b) => place.get(a.path)! - place.get(b.path)!) };
}

async function main(): Promise<void> {
  if (!values.model) { console.error("usage: npm run bench:fidelity -- --model FILE [--tasks N] [--lengths 1,2,4] [--segment-tokens N] [--gpu cpu|auto]"); process.exit(2); }
  const engine = await openLlamaEngine({ modelPath: values.model, gpu: values.gpu as GpuChoice });
  const modes = values.modes!.split(",");
  const rows: Record<string, Score[]> = {};
  const add = (key: string, s: Score): void => { (rows[key] ??= []).push(s); };
  const timed = async <T extends Score>(run: () => Promise<T>): Promise<T> => {
    const t0 = performance.now(), n0 = engine.evaluatedTokens;
    const s = await run();
    return { ...s, ms: performance.now() - t0, tokens: engine.evaluatedTokens - n0 };
  };
  for (const mult of values.lengths!.split(",").map(Number)) {
    for (let i = 0; i < Number(values.tasks); i++) {
      const hops = i % 2 === 0 ? 1 : 2;
      const task = makeTask({ seed: Number(values.seed) + mult * 100000 + i, chars: TRAINING_CHARS * mult, hops });
      const { segments, placed } = packTask(engine, task, segmentTokens);
      const goldFor = (windowOf: (k: number) => number): (string | undefined)[] => goldMargins(task, placed, segments.length, windowOf);
      const key = (mode: string): string => `${mult}x ${hops}-hop ${mode}`;
      if (modes.includes("plain")) add(key("plain"), await timed(() => plain(engine, task, segments)));
      for (const mode of ["fused", "separate"] as const) {
        if (!modes.includes(mode)) continue;
        const r = await timed(() => wim(engine, task, segments, goldFor, mode));
        if (values.verbose) console.error(`${key(mode)} seed ${task.question} -> ${JSON.stringify(r.answer)} (value ${task.value} at ${task.at.path}:${task.at.line})\n  ${r.margins.join("\n  ")}`);
        add(key(`WiM ${mode}`), r);
      }
      if (modes.includes("map-reduce")) add(key("map-reduce"), await timed(() => mapReduce(engine, task, segments, goldFor((k) => k))));
      if (mult > 1 && modes.includes("fused")) {
        const ranked = relevanceFirst(task);
        const p = packTask(engine, ranked, segmentTokens);
        add(key("WiM fused, relevance-first"), await timed(() => wim(engine, ranked, p.segments, (w) => goldMargins(ranked, p.placed, p.segments.length, w), "fused")));
      }
      process.stderr.write(".");
    }
  }
  process.stderr.write("\n");
  const pct = (x: number): string => `${(100 * x).toFixed(0)}%`.padStart(5);
  console.log(`${"codebase, question, reading".padEnd(40)} answer  cited  v.prec  v.recall  read to 1st relevant: judged  gold  tokens      s`);
  const summary: Record<string, unknown> = {};
  for (const [key, list] of Object.entries(rows)) {
    const n = list.length;
    const v = list.reduce((a, s) => ({ tp: a.tp + s.verdicts.tp, fp: a.fp + s.verdicts.fp, fn: a.fn + s.verdicts.fn }), { tp: 0, fp: 0, fn: 0 });
    const judged = v.tp + v.fp + v.fn > 0;
    const row = {
      tasks: n, answer: list.filter((s) => s.answered).length / n, cited: list.filter((s) => s.cited).length / n,
      verdictPrecision: judged ? v.tp / Math.max(1, v.tp + v.fp) : null, verdictRecall: judged ? v.tp / Math.max(1, v.tp + v.fn) : null,
      readToFirstRelevant: list[0]!.firstRelevantShare === undefined ? null : list.reduce((a, s) => a + s.firstRelevantShare!, 0) / n,
      readToFirstGoldRelevant: list[0]!.goldFirstShare === undefined ? null : list.reduce((a, s) => a + s.goldFirstShare!, 0) / n,
      tokens: list.reduce((a, s) => a + s.tokens, 0) / n, seconds: list.reduce((a, s) => a + s.ms, 0) / n / 1000,
    };
    summary[key] = row;
    const opt = (x: number | null): string => (x === null ? "    -" : pct(x));
    console.log(`${key.padEnd(40)} ${pct(row.answer)}  ${pct(row.cited)}  ${opt(row.verdictPrecision)}   ${opt(row.verdictRecall)}                 ${opt(row.readToFirstRelevant)}  ${opt(row.readToFirstGoldRelevant)}  ${String(Math.round(row.tokens)).padStart(6)}  ${row.seconds.toFixed(2).padStart(5)}`);
  }
  console.log(JSON.stringify({ model: values.model, segmentTokens, trainingChars: TRAINING_CHARS, marginTokens: MARGIN_TOKENS, rows: summary }));
  await engine.dispose();
}

main().catch((err) => { console.error(`bench:fidelity: ${(err as Error).stack}`); process.exit(1); });
