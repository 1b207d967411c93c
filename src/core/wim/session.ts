// Writing in the Margins over an engine's token sequences (Russak et al., 2024). The codebase is
// prefilled once, segment by segment, on the reader sequence; after each segment an extractive
// prompt is appended, a margin generated greedily, and both erased from the end of the cache. Each
// margin is judged relevant or not (verdict.ts: fused into the margin, or on a second sequence).
// The answer sees the codebase (its last window) plus the margins kept (answer.ts); how the
// context is shared between them is layout.ts's. A codebase of several windows is read window by
// window, the likeliest window first; the warm cache keeps each window's reading (warm.ts), whose
// margins a later question writes backwards from the loaded state instead of prefilling it.
import { randomUUID } from "node:crypto";
import { segmentChunks, type Segment } from "../pack/packer";
import type { CodebaseStateCache } from "../cache/stateCache";
import { writeAnswer } from "./answer";
import { findCitations } from "./citations";
import { abortError, concatTokens, ContextTooSmallError, isAbortError, type EngineSequence, type Token, type TokenList, type WimEngine } from "./engine";
import type { RunTimings, ServerCacheUse, StopReason, WimEvent } from "./events";
import { layoutReading, readingOrder, windowPositions } from "./layout";
import { MarginWriter, type MarginRecord, type MarginTrace } from "./marginWriter";
import * as prompts from "./prompts";
import * as verdict from "./verdict";
import { WindowStore } from "./warm";
import { canFork, forksFor, ForkedMargins } from "./forkedMargins";

export type { MarginRecord };

export interface WimOptions {
  marginTokens?: number;
  answerTokens?: number;
  /** How margins are judged relevant (see verdict.ts); "off" keeps every margin. Default "fused". */
  classify?: verdict.ClassifyMode;
  /** Turns a verdict's score (P(yes) over yes and no) into relevant or not; default score >= 0.5. The benchmark fixes it to measure a known share of relevant segments. */
  judge?: (segment: number, score: number) => boolean;
  runId?: string;
  signal?: AbortSignal;
  /** Record token sequences at each step, for exactness tests. */
  trace?: boolean;
  /** Use at most this much of the model's context (tests use it to make windows). */
  contextTokens?: number;
  /** The warm codebase cache: a codebase read before is not prefilled again. */
  cache?: CodebaseStateCache;
  /** Files that changed or went away between the plan the user saw and this run, to say so. */
  changes?: { changed: string[]; removed: string[] };
  /** Forks of the reader a warm question's margins are written on, where the engine shares cells (forkedMargins.ts); 0 writes them on the reader. */
  forks?: number;
}

export interface WimTrace {
  /** Reader tokens before each margin's prompt, the prompt (with a fused verdict's "yes" when it was relevant), the margin generated, and a fused verdict's score. */
  margins: MarginTrace[];
  answers: { context: Token[]; prompt: Token[]; answer: Token[] }[];
}

export const DEFAULT_MARGIN_TOKENS = 128;
/** The question is repeated after every segment: past this it crowds out the codebase. */
export const MAX_QUESTION_TOKENS = 2048;
export const DEFAULT_ANSWER_TOKENS = 512;
/** How much of a new estimate of the time left is taken each segment: the rest is the last estimate. */
const ETA_WEIGHT = 0.3;
/** What the separate classifier's sequence holds beside the question and a margin: its chat template and instructions, with room to spare. */
const CLASSIFIER_PROMPT_TOKENS = 512;

export interface CodebaseInput {
  segments: readonly Segment[];
  files: number;
  /** Each segment's likeliness to answer the question (higher first): with several windows, the likeliest window is read first. */
  scores?: readonly number[];
}

/** What the answer works from: the reader, what it holds, and how much context it has. */
interface Reading { seq: EngineSequence; opening: number; contextTokens: number; windowEnds: number[]; codebaseEnd: number; read: number; tokensRead: number; totalTokens: number }

export class WimSession {
  readonly runId: string;
  readonly margins: MarginRecord[] = [];
  readonly trace: WimTrace = { margins: [], answers: [] };
  private readonly rejected = new Set<number>();
  private answerNowFlag = false;
  private reading?: Reading;
  /** The segments in the order the run reads them (and numbers them in its events). */
  private segments: readonly Segment[];
  private lastAnswerMarginIds: number[] = [];
  /** The margins the last answer could use (before any were dropped for room): what "stale" compares with. */
  private keptAtAnswer?: number[];
  private busy = false;
  /** The server engine's totals when this phase began, for the run's own share. */
  private reuseStart?: ServerCacheUse;

  constructor(
    private readonly engine: WimEngine,
    private readonly codebase: CodebaseInput,
    readonly question: string,
    private readonly options: WimOptions = {},
  ) {
    this.runId = options.runId ?? randomUUID();
    this.segments = codebase.segments;
    if (!question.trim()) throw new Error("the question is empty");
  }

  /** Stop reading and answer from what has been read (takes effect at the next token). */
  answerNow(): void {
    this.answerNowFlag = true;
  }

  get answerNowRequested(): boolean {
    return this.answerNowFlag;
  }

  /** Rejects (or restores) a margin; returns the run's state after it, for the view. */
  setRejected(segment: number, rejected: boolean): WimEvent {
    if (rejected) this.rejected.add(segment);
    else this.rejected.delete(segment);
    return this.keptState();
  }

  /** Which margins an answer would use now, which are rejected, and whether that differs from the last answer's. */
  keptState(): WimEvent {
    const kept = this.keptMarginIds();
    const stale = this.keptAtAnswer !== undefined && kept.join() !== this.keptAtAnswer.join();
    return { type: "kept-changed", runId: this.runId, kept, rejected: [...this.rejected].sort((a, b) => a - b), stale };
  }

  /** The margins the answer would use now: not rejected, not judged irrelevant. */
  keptMarginIds(): number[] {
    return this.margins.filter((m) => !this.rejected.has(m.segment) && m.relevant !== false && m.text.trim() !== "").map((m) => m.segment);
  }

  /** The margin ids the last answer's prompt held. */
  get answerMarginIds(): number[] {
    return [...this.lastAnswerMarginIds];
  }

  private get marginTokens(): number {
    return this.options.marginTokens ?? DEFAULT_MARGIN_TOKENS;
  }

  private get answerTokens(): number {
    return this.options.answerTokens ?? DEFAULT_ANSWER_TOKENS;
  }

  async *run(): AsyncGenerator<WimEvent> {
    yield* this.guard(() => this.read());
  }

  /** Answers again with the current kept margins, without reading the codebase again. */
  async *reanswer(signal?: AbortSignal): AsyncGenerator<WimEvent> {
    if (!this.reading) throw new Error("nothing has been read yet");
    this.markReuse();
    yield* this.guard(() => this.answerPhase(performance.now(), signal ?? this.options.signal, "finished", emptyTimings()));
  }

  /** One phase at a time; errors become an error event (naming the setting to change, if one is the cause), aborts a done event. */
  private async *guard(body: () => AsyncGenerator<WimEvent>): AsyncGenerator<WimEvent> {
    if (this.busy) throw new Error("this session is already running");
    this.busy = true;
    try {
      yield* body();
    } catch (err) {
      if (isAbortError(err)) throw err;
      const setting = err instanceof ContextTooSmallError ? err.setting : undefined;
      yield { type: "error", runId: this.runId, message: (err as Error).message, ...(setting ? { setting } : {}) };
    } finally {
      this.busy = false;
    }
  }

  private async *read(): AsyncGenerator<WimEvent> {
    const started = performance.now();
    this.markReuse();
    const signal = this.options.signal;
    const engine = this.engine;
    const timings = emptyTimings();
    const questionTokens = engine.tokenizeText(this.question).length;
    if (questionTokens > MAX_QUESTION_TOKENS) {
      throw new Error(`the question is too long: ${questionTokens.toLocaleString("en-US")} tokens, at most ${MAX_QUESTION_TOKENS.toLocaleString("en-US")}`);
    }
    // A plan made to run carries its tokens; otherwise (tests, benchmarks) they are made here.
    const planTokens: TokenList[] = this.codebase.segments.map((s) => s.tokenIds ?? segmentChunks(s).flatMap((c) => engine.tokenizeText(c)));
    const planSizes = planTokens.map((t) => t.length);
    const total = planSizes.reduce((n, t) => n + t, 0);
    const reader = engine.chatParts(prompts.READER_SYSTEM);
    const opening = [...reader.prefix, ...engine.tokenizeText(prompts.CODEBASE_INTRO)];
    const mode = this.options.classify ?? "fused";
    const extract = [...engine.tokenizeText(mode === "fused" ? prompts.fusedExtractivePrompt(this.question) : prompts.extractivePrompt(this.question)), ...reader.suffix];
    const yesNo = mode === "off" ? undefined : verdict.verdictTokens(engine);
    const layout = layoutReading({
      sizes: planSizes, contextLimit: Math.min(engine.info.trainContextSize, this.options.contextTokens ?? Infinity), opening: opening.length,
      // A relevant fused margin continues after its "yes", which may take more than one token.
      extract: extract.length + (mode === "fused" ? verdict.longestYes(yesNo!) : 0), marginTokens: this.marginTokens,
      answerFixed: engine.tokenizeText(prompts.answerPrompt([], this.question)).length + reader.suffix.length, answerTokens: this.answerTokens,
      // A kept margin may come back re-tokenized a little longer than it was written, with its "[k] " label.
      perMargin: this.marginTokens + 12,
    });
    if (!("windows" in layout)) throw new ContextTooSmallError(layout.needed, layout.available, layout.detail, layout.cause);
    const { windowCount, contextTokens } = layout;
    // Several windows are read likeliest first, each window whole and the same for every question.
    const placed = readingOrder(layout.windows, windowCount > 1 ? this.codebase.scores : undefined);
    const windows = placed.windows;
    const segments = placed.order.map((k) => this.codebase.segments[k]!);
    const segmentTokens = placed.order.map((k) => planTokens[k]!);
    const sizes = placed.order.map((k) => planSizes[k]!);
    this.segments = segments;
    // Where each segment ends in its window: the reader's positions, and the warm cache's.
    const { firstOf, endOf, ends, coveredTo } = windowPositions(windows, sizes, opening.length);
    let prepared: EngineSequence[];
    const forkCount = forksFor(engine.info, mode, !!(windowCount === 1 && this.options.cache && engine.info.stateKey), this.options.forks);
    try {
      // With the warm cache the reader may keep the codebase it holds: warmStart checks and uses it, or empties it.
      prepared = await engine.prepare({
        tokensPerSequence: contextTokens, sequences: mode === "separate" ? 2 : 1 + forkCount, keep: !!this.options.cache, ...(signal ? { signal } : {}),
        forkTokens: forkCount ? extract.length + (mode === "fused" ? verdict.longestYes(yesNo!) : 0) + this.marginTokens + 8 : questionTokens + this.marginTokens + CLASSIFIER_PROMPT_TOKENS,
      });
    } catch (err) {
      if (!isAbortError(err) && !signal?.aborted) throw err;
      yield this.doneEvent("aborted", "", 0, 0, total, started, timings, { prefilled: 0, margins: 0, answer: 0, evaluated: 0 });
      return;
    }
    const seq = prepared[0]!;
    // The second sequence is the separate classifier's, or the first of the forks.
    const classifierSeq = mode === "separate" ? prepared[1] : undefined;
    const cache = engine.info.stateKey && seq.saveState && seq.loadState ? this.options.cache : undefined;
    const store = cache ? new WindowStore({ cache, stateKey: engine.info.stateKey!, seq, opening, segmentTokens, ends, firstOf, endOf, runId: this.runId }) : undefined;
    const warm = store ? await store.start(0) : {};
    if (!store) await seq.truncate(0);
    // The other windows' entries are only looked up here, for the count: each is loaded when its window comes.
    const reused = (warm.hit?.segments ?? 0) + (store ? await store.reusable() : 0);
    yield {
      type: "run-started", runId: this.runId, files: this.codebase.files, tokens: total, segments: sizes.length, windows: windowCount,
      model: engine.info.model, backend: engine.info.backend, gpuNames: engine.info.gpuNames, contextSize: contextTokens, windowTokens: layout.windowTokens, reusedSegments: reused,
      ...(warm.note ? { cacheNote: warm.note } : {}),
      ...(this.options.changes?.changed.length ? { changed: this.options.changes.changed } : {}),
      ...(this.options.changes?.removed.length ? { removed: this.options.changes.removed } : {}),
      ...(engine.info.backendNote ? { backendNote: engine.info.backendNote } : {}),
      ...(engine.info.addonShim !== undefined ? { addonShim: engine.info.addonShim } : {}),
    };

    const evaluatedAtStart = engine.evaluatedTokens;
    const writerOn = (reader: EngineSequence): MarginWriter => new MarginWriter({
      engine, reader, ...(classifierSeq && reader === seq ? { classifier: classifierSeq } : {}), mode, judge: this.options.judge ?? verdict.byScore,
      question: this.question, extract, ...(yesNo ? { yesNo } : {}), marginTokens: this.marginTokens, runId: this.runId, timings,
      ...(signal ? { signal } : {}), answerNow: () => this.answerNowRequested,
      ...(this.options.trace ? { trace: (t: MarginTrace) => this.trace.margins.push(t) } : {}),
    });
    const writer = writerOn(seq);
    const forkSeqs = prepared.slice(1);
    const forks = forkCount && canFork(forkSeqs)
      ? new ForkedMargins({ reader: seq, writers: forkSeqs.map((fork) => ({ fork, writer: writerOn(fork) })), finished: (record) => (keep(record), [this.keptState()]) })
      : undefined;
    let stoppedBy: StopReason = "finished";
    let read = 0;
    let tokensRead = 0;
    let marginTokens = 0;
    // The window the reader holds, its segments the cache gave, and where those it holds end in it, for the answer's room.
    let heldWindow = 0;
    let reusedHere = 0;
    let windowEnds: number[] = [];
    let eta: number | undefined;
    const progress = (k: number): WimEvent => {
      // Tokens covered, prefilled now or loaded from the cache; the rate counts prefill only.
      const covered = coveredTo[read]!;
      const rate = tokensRead / Math.max(timings.prefillMs / 1000, 1e-6);
      const perMargin = this.margins.length > 0 ? timings.marginMs / 1000 / this.margins.length : 0;
      const raw = (rate > 0 ? (total - covered) / rate : 0) + perMargin * (sizes.length - this.margins.length);
      // Smoothed: one slow margin or a short segment should not swing the estimate by minutes.
      eta = eta === undefined ? raw : (1 - ETA_WEIGHT) * eta + ETA_WEIGHT * raw;
      return { type: "segment-progress", runId: this.runId, segment: k, segments: sizes.length, window: windows[k]!, windows: windowCount, tokensRead: covered, totalTokens: total, tokensPerSecond: rate, etaSeconds: eta, ...this.serverCache() };
    };
    const keep = (record: MarginRecord): void => {
      this.margins.push(record);
      marginTokens += record.tokens;
    };
    try {
      await writer.open();
      for (let w = 0; w < windowCount && stoppedBy === "finished"; w++) {
        const [first, end] = [firstOf[w]!, endOf[w]!];
        if (w > 0) {
          if (signal?.aborted) throw abortError(signal);
          if (this.answerNowRequested) { stoppedBy = "answer-now"; break; }
          // The next window: keep the margins, save this window's reading for the next question, read on.
          const judged = await writer.takePending();
          if (judged) yield* this.judged(writer.classified(judged));
          if (store && windowEnds.length > reusedHere) await store.saveBehind(heldWindow, windowEnds.length);
          if (store) yield* store.finished();
          await seq.truncate(opening.length);
          windowEnds = [];
          yield { type: "window-started", runId: this.runId, window: w, windows: windowCount, firstSegment: first };
        }
        heldWindow = w;
        const hit = w === 0 ? warm.hit : (await store?.start(w))?.hit;
        reusedHere = hit?.segments ?? 0;
        if (hit && forks) {
          // Warm, on forks (one window only): margin k takes the cached segments 0..k from the reader, which keeps them all.
          read = reusedHere;
          yield progress(reusedHere - 1);
          // The margins overlap: their time is the pass's, not the sum of theirs.
          const [marginMs, passStarted] = [timings.marginMs, performance.now()];
          for (let k = 0; k < reusedHere; k++) forks.start(k, ends[k]!, segments[k]!.sources, segmentTokens[k]);
          yield* forks.finish();
          timings.marginMs = marginMs + performance.now() - passStarted;
          if (this.answerNowRequested) stoppedBy = "answer-now";
          windowEnds = ends.slice(0, reusedHere);
        } else if (hit) {
          // Warm: the cache holds the window's first segments. Margins from the last of them backwards,
          // each after erasing the segments past it, so margin k sees exactly what it saw when read.
          read = first + reusedHere;
          const last = read - 1;
          const whole = yield* writer.writeBackward({
            first, last, ends, sources: (k) => segments[k]!.sources, tokens: (k) => segmentTokens[k]!, before: progress,
            kept: (record) => (keep(record), this.keptState()),
          });
          if (!whole) stoppedBy = "answer-now";
          // Loaded again only where the window is read on or answered from: an earlier window whole
          // from the cache is done with.
          if (first + reusedHere < end || w === windowCount - 1 || stoppedBy !== "finished") {
            const restored = await store!.restore(hit, last);
            if (restored === "read") {
              const prefillStarted = performance.now();
              await seq.append(concatTokens([opening, ...segmentTokens.slice(first, last + 1)]), signal);
              timings.prefillMs += performance.now() - prefillStarted;
              tokensRead += coveredTo[last + 1]! - coveredTo[first]!;
            }
            windowEnds = ends.slice(first, last + 1);
          } else {
            windowEnds = [seq.length];
          }
        } else if (seq.length === 0) {
          const prefillStarted = performance.now();
          await seq.append(opening, signal);
          timings.prefillMs += performance.now() - prefillStarted;
        }
        // Then the window's segments the cache did not give, each with its margin.
        for (let k = first + reusedHere; k < end && stoppedBy === "finished"; k++) {
          if (signal?.aborted) throw abortError(signal);
          if (this.answerNowRequested) { stoppedBy = "answer-now"; break; }
          const prefillStarted = performance.now();
          // Queued in the same tick as the previous margin's classification: one decode batch serves both
          // (the segment goes whole then, so that even one shorter than a batch has a batch to share).
          const pending = writer.takePending();
          const [, judged] = await Promise.all([seq.append(segmentTokens[k]!, signal, pending ? { whole: true } : {}), pending]);
          timings.prefillMs += performance.now() - prefillStarted;
          if (judged) yield* this.judged(writer.classified(judged));
          read = k + 1;
          tokensRead += sizes[k]!;
          windowEnds.push(seq.length);
          yield progress(k);
          keep(yield* writer.write(k, segments[k]!.sources, segmentTokens[k]));
          yield this.keptState();
        }
      }
      this.margins.sort((a, b) => a.segment - b.segment);
      const judged = await writer.takePending();
      if (judged) yield* this.judged(writer.classified(judged));
    } catch (err) {
      // An evaluation cannot be interrupted: let the classifier and the forks finish before the sequences are reused.
      await writer.settle();
      await forks?.settle();
      await seq.truncate(0).catch(() => undefined);
      this.reading = undefined;
      if (isAbortError(err)) {
        yield this.doneEvent("aborted", "", read, coveredTo[read]!, total, started, timings, { prefilled: tokensRead, margins: marginTokens, answer: 0, evaluated: engine.evaluatedTokens - evaluatedAtStart });
        return;
      }
      throw err;
    }
    this.reading = { seq, opening: opening.length, contextTokens, windowEnds, codebaseEnd: seq.length, read, tokensRead: coveredTo[read]!, totalTokens: total };
    timings.totalMs = performance.now() - started;
    yield* this.answerPhase(started, signal, stoppedBy, timings, { prefilled: tokensRead, margins: marginTokens, evaluatedAtStart });
    // After the answer, so that saving never delays it.
    if (store && this.reading?.seq === seq) yield* store.afterAnswer(this.reading, heldWindow, reusedHere, signal);
  }

  private async *answerPhase(
    started: number, signal: AbortSignal | undefined, stoppedBy: StopReason, timings: RunTimings,
    counts: { prefilled: number; margins: number; evaluatedAtStart: number } = { prefilled: 0, margins: 0, evaluatedAtStart: this.engine.evaluatedTokens },
  ): AsyncGenerator<WimEvent> {
    const r = this.reading!;
    const answerStarted = performance.now();
    this.keptAtAnswer = this.keptMarginIds();
    const answer = yield* writeAnswer({
      engine: this.engine, reader: r.seq, runId: this.runId, question: this.question, answerTokens: this.answerTokens, contextTokens: r.contextTokens,
      opening: r.opening, ends: r.windowEnds.filter((e) => e <= r.codebaseEnd), margins: this.margins, kept: this.keptAtAnswer,
      ...(signal ? { signal } : {}),
      ...(this.options.trace ? { trace: (t: { context: Token[]; prompt: Token[]; answer: Token[] }) => this.trace.answers.push(t) } : {}),
    });
    // The room the answer made stays made: a re-answer starts from the same codebase end.
    r.codebaseEnd = answer.codebaseEnd;
    this.lastAnswerMarginIds = answer.marginIds;
    yield this.keptState();
    timings.answerMs += performance.now() - answerStarted;
    yield this.doneEvent(answer.aborted ? "aborted" : stoppedBy, answer.text, r.read, r.tokensRead, r.totalTokens, started, timings, {
      prefilled: counts.prefilled, margins: counts.margins, answer: answer.tokens, evaluated: this.engine.evaluatedTokens - counts.evaluatedAtStart,
    });
  }

  /** A separate verdict, then the state it leaves. */
  private *judged(event: WimEvent): Generator<WimEvent> {
    yield event;
    yield this.keptState();
  }

  private doneEvent(stoppedBy: StopReason, answer: string, read: number, tokensRead: number, totalTokens: number, started: number, timings: RunTimings, tokens: { prefilled: number; margins: number; answer: number; evaluated: number }): WimEvent {
    // The answer may cite any file the run read.
    const sources = this.segments.slice(0, read).flatMap((s) => s.sources);
    return {
      type: "done", runId: this.runId, stoppedBy, answer, citations: answer ? findCitations(answer, sources) : [], segmentsRead: read,
      coverage: { segments: read, ofSegments: this.segments.length, tokens: tokensRead, ofTokens: totalTokens },
      timings: { ...timings, totalMs: performance.now() - started }, tokens, ...this.serverCache(),
    };
  }

  private serverCache(): { serverCache?: ServerCacheUse } {
    const now = this.engine.reuse;
    if (!now || !this.reuseStart) return {};
    return { serverCache: { promptTokens: now.promptTokens - this.reuseStart.promptTokens, cachedTokens: now.cachedTokens - this.reuseStart.cachedTokens } };
  }

  private markReuse(): void {
    const r = this.engine.reuse;
    this.reuseStart = r ? { promptTokens: r.promptTokens, cachedTokens: r.cachedTokens } : undefined;
  }
}

function emptyTimings(): RunTimings {
  return { totalMs: 0, prefillMs: 0, marginMs: 0, classifyMs: 0, answerMs: 0 };
}
