// Writing in the Margins over an engine's token sequences (Russak et al., 2024). The codebase is
// prefilled once, segment by segment, on the reader sequence; after each segment an extractive
// prompt is appended, a margin generated greedily, and both erased from the end of the cache. Each
// margin is judged relevant or not (verdict.ts: fused into the margin, or on a second sequence).
// The answer sees every segment plus the margins kept.
import { randomUUID } from "node:crypto";
import { segmentChunks, type Segment } from "../pack/packer";
import { CacheEntryDamaged, tokenChain, type CodebaseStateCache } from "../cache/stateCache";
import { abortError, concatTokens, ContextTooSmallError, isAbortError, type EngineSequence, type Token, type TokenList, type WimEngine } from "./engine";
import type { RunTimings, ServerCacheUse, StopReason, WimEvent } from "./events";
import { findCitations } from "./citations";
import { MarginWriter, type MarginRecord, type MarginTrace } from "./marginWriter";
import * as prompts from "./prompts";
import { TextStream } from "./textStream";
import * as verdict from "./verdict";
import { assignWindows } from "./windows";

export { assignWindows, type MarginRecord };

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

export interface CodebaseInput { segments: readonly Segment[]; files: number }

export class WimSession {
  readonly runId: string;
  readonly margins: MarginRecord[] = [];
  readonly trace: WimTrace = { margins: [], answers: [] };
  private readonly rejected = new Set<number>();
  private answerNowFlag = false;
  private reader?: EngineSequence;
  private codebaseEnd = 0;
  private lastAnswerMarginIds: number[] = [];
  /** The margins the last answer could use (before any were dropped for room): what "stale" compares with. */
  private keptAtAnswer?: number[];
  private busy = false;
  private maxAnswerMargins = Infinity;
  /** The server engine's totals when this phase began, for the run's own share. */
  private reuseStart?: ServerCacheUse;
  /** Tokens the reader sequence was prepared to hold. */
  private readerTokens = Infinity;
  /** Why the warm cache was not used, when that is news (a damaged entry). */
  private cacheNote?: string;

  constructor(
    private readonly engine: WimEngine,
    private readonly codebase: CodebaseInput,
    readonly question: string,
    private readonly options: WimOptions = {},
  ) {
    this.runId = options.runId ?? randomUUID();
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
    if (!this.reader) throw new Error("nothing has been read yet");
    this.markReuse();
    yield* this.guard(() => this.answerPhase(performance.now(), signal ?? this.options.signal, "finished", this.margins.length, emptyTimings()));
  }

  /** One phase at a time; errors become an error event, aborts a done event. */
  private async *guard(body: () => AsyncGenerator<WimEvent>): AsyncGenerator<WimEvent> {
    if (this.busy) throw new Error("this session is already running");
    this.busy = true;
    try {
      yield* body();
    } catch (err) {
      if (!isAbortError(err)) yield { type: "error", runId: this.runId, message: (err as Error).message };
      else throw err;
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
    const segmentTokens: TokenList[] = this.codebase.segments.map((s) => s.tokenIds ?? segmentChunks(s).flatMap((c) => engine.tokenizeText(c)));
    const total = segmentTokens.reduce((n, t) => n + t.length, 0);
    const reader = engine.chatParts(prompts.READER_SYSTEM);
    const opening = [...reader.prefix, ...engine.tokenizeText(prompts.CODEBASE_INTRO)];
    const mode = this.options.classify ?? "fused";
    const extract = [...engine.tokenizeText(mode === "fused" ? prompts.fusedExtractivePrompt(this.question) : prompts.extractivePrompt(this.question)), ...reader.suffix];
    // A relevant fused margin continues after its "yes": one token more than the prompt.
    const extractLength = extract.length + 1;
    const placeholder = this.codebase.segments.map((s) => ({ segment: s.index, text: "" }));
    const answerFixed = engine.tokenizeText(prompts.answerPrompt(placeholder, this.question)).length + reader.suffix.length;
    const contextLimit = Math.min(engine.info.trainContextSize, this.options.contextTokens ?? Infinity);
    // Each kept margin may come back re-tokenized a little longer than it was generated. With more
    // segments than half the context can hold margins for, the answer takes the best-judged ones.
    const perMargin = this.marginTokens + 8;
    this.maxAnswerMargins = Math.max(1, Math.min(this.codebase.segments.length, Math.floor((contextLimit / 2 - answerFixed - this.answerTokens) / perMargin)));
    const answerRoom = answerFixed + this.maxAnswerMargins * perMargin + this.answerTokens;
    const reserve = Math.max(extractLength + this.marginTokens, answerRoom);
    const windows = assignWindows(segmentTokens.map((t) => t.length), contextLimit - opening.length - reserve);
    if (!windows) {
      const largest = Math.max(...segmentTokens.map((t) => t.length));
      throw new ContextTooSmallError(opening.length + largest + reserve, contextLimit,
        `a ${largest.toLocaleString("en-US")}-token segment and room for ${this.codebase.segments.length} margins and the answer do not fit; use smaller segments or shorter margins`);
    }
    const windowCount = windows.length ? windows[windows.length - 1]! + 1 : 1;
    const largestWindow = Math.max(0, ...Array.from({ length: windowCount }, (_, w) => segmentTokens.reduce((n, t, k) => n + (windows[k] === w ? t.length : 0), 0)));
    const needed = opening.length + largestWindow + reserve;
    let prepared: EngineSequence[];
    try {
      prepared = await engine.prepare({ tokensPerSequence: needed, sequences: mode === "separate" ? 2 : 1, ...(signal ? { signal } : {}) });
    } catch (err) {
      if (!isAbortError(err) && !signal?.aborted) throw err;
      yield this.doneEvent("aborted", "", 0, started, timings, { prefilled: 0, margins: 0, answer: 0, evaluated: 0 });
      return;
    }
    const [seq, classifierSeq] = prepared as [EngineSequence, EngineSequence | undefined];
    this.readerTokens = needed;
    this.reader = seq;
    // Where each segment ends in the reader; with windows, the cache is not used.
    const ends: number[] = [];
    for (const t of segmentTokens) ends.push((ends.at(-1) ?? opening.length) + t.length);
    const cache = windowCount === 1 && engine.info.stateKey && seq.saveState && seq.loadState ? this.options.cache : undefined;
    const chain = cache ? tokenChain(opening, segmentTokens) : [];
    const warm = cache ? await this.warmStart(cache, chain, seq, opening, segmentTokens, ends) : undefined;
    const reused = warm?.segments ?? 0;
    yield {
      type: "run-started", runId: this.runId, files: this.codebase.files, tokens: total, segments: segmentTokens.length, windows: windowCount,
      model: engine.info.model, backend: engine.info.backend, gpuNames: engine.info.gpuNames, contextSize: needed, reusedSegments: reused,
      ...(this.cacheNote ? { cacheNote: this.cacheNote } : {}),
      ...(this.options.changes?.changed.length ? { changed: this.options.changes.changed } : {}),
      ...(this.options.changes?.removed.length ? { removed: this.options.changes.removed } : {}),
      ...(engine.info.backendNote ? { backendNote: engine.info.backendNote } : {}),
    };

    const evaluatedAtStart = engine.evaluatedTokens;
    const writer = new MarginWriter({
      engine, reader: seq, ...(classifierSeq ? { classifier: classifierSeq } : {}), mode, judge: this.options.judge ?? verdict.byScore,
      question: this.question, extract, marginTokens: this.marginTokens, runId: this.runId, timings,
      ...(signal ? { signal } : {}), answerNow: () => this.answerNowRequested,
      ...(this.options.trace ? { trace: (t: MarginTrace) => this.trace.margins.push(t) } : {}),
    });
    let stoppedBy: StopReason = "finished";
    let read = 0;
    let tokensRead = 0;
    let marginTokens = 0;
    const progress = (k: number): WimEvent => {
      // Tokens the reader holds, prefilled now or loaded from the cache; the rate counts prefill only.
      const covered = ends[read - 1]! - opening.length;
      const rate = tokensRead / Math.max(timings.prefillMs / 1000, 1e-6);
      const perMargin = this.margins.length > 0 ? timings.marginMs / 1000 / this.margins.length : 0;
      const etaSeconds = (rate > 0 ? (total - covered) / rate : 0) + perMargin * (segmentTokens.length - this.margins.length);
      return { type: "segment-progress", runId: this.runId, segment: k, segments: segmentTokens.length, window: windows[k]!, windows: windowCount, tokensRead: covered, totalTokens: total, tokensPerSecond: rate, etaSeconds, ...this.serverCache() };
    };
    const keep = (record: MarginRecord): void => {
      this.margins.push(record);
      marginTokens += record.tokens;
    };
    try {
      await writer.open();
      if (warm) {
        // Warm: the cache holds segments 0..reused-1. Margins from the last of them backwards, each
        // after erasing the segments past it, so margin k sees exactly segments 0..k, as when read.
        read = reused;
        for (let k = reused - 1; k >= 0; k--) {
          if (signal?.aborted) throw abortError(signal);
          if (this.answerNowRequested) { stoppedBy = "answer-now"; break; }
          await seq.truncate(ends[k]!);
          yield progress(k);
          keep(yield* writer.write(k, this.codebase.segments[k]!.sources));
          const judged = await writer.takePending();
          if (judged) yield writer.classified(judged);
          yield this.keptState();
        }
        this.margins.sort((a, b) => a.segment - b.segment);
        try {
          await cache!.guardLoad(warm.file, () => this.restore(seq, warm.file, ends[reused - 1]!), { verify: false });
        } catch {
          // Evicted or damaged since it was loaded (another window or the CLI shares the cache): read it.
          await seq.truncate(0);
          const prefillStarted = performance.now();
          await seq.append(concatTokens([opening, ...segmentTokens.slice(0, reused)]), signal);
          timings.prefillMs += performance.now() - prefillStarted;
          tokensRead += ends[reused - 1]! - opening.length;
        }
      } else {
        const prefillStarted = performance.now();
        await seq.append(opening, signal);
        timings.prefillMs += performance.now() - prefillStarted;
      }
      for (let k = reused; k < segmentTokens.length && stoppedBy === "finished"; k++) {
        if (signal?.aborted) throw abortError(signal);
        if (this.answerNowRequested) { stoppedBy = "answer-now"; break; }
        if (k > 0 && windows[k] !== windows[k - 1]) {
          // The next segment does not fit: keep the margins, clear the codebase, read on.
          const judged = await writer.takePending();
          if (judged) yield* this.judged(writer.classified(judged));
          await seq.truncate(opening.length);
          yield { type: "window-started", runId: this.runId, window: windows[k]!, windows: windowCount, firstSegment: k };
        }
        const prefillStarted = performance.now();
        // Queued in the same tick as the previous margin's classification: one decode batch serves both.
        const [, judged] = await Promise.all([seq.append(segmentTokens[k]!, signal), writer.takePending()]);
        timings.prefillMs += performance.now() - prefillStarted;
        if (judged) yield* this.judged(writer.classified(judged));
        read = k + 1;
        tokensRead += segmentTokens[k]!.length;
        yield progress(k);
        keep(yield* writer.write(k, this.codebase.segments[k]!.sources));
        yield this.keptState();
      }
      const judged = await writer.takePending();
      if (judged) yield* this.judged(writer.classified(judged));
    } catch (err) {
      // An evaluation cannot be interrupted: let the classifier finish before the sequences are reused.
      await writer.settle();
      await seq.truncate(0).catch(() => undefined);
      this.reader = undefined;
      if (isAbortError(err)) {
        yield this.doneEvent("aborted", "", read, started, timings, { prefilled: tokensRead, margins: marginTokens, answer: 0, evaluated: engine.evaluatedTokens - evaluatedAtStart });
        return;
      }
      throw err;
    }
    this.codebaseEnd = seq.length;
    timings.totalMs = performance.now() - started;
    yield* this.answerPhase(started, signal, stoppedBy, read, timings, { prefilled: tokensRead, margins: marginTokens, evaluatedAtStart });
    // After the answer, so that saving never delays it: the reader holds the codebase again.
    const held = ends.filter((e) => e <= this.codebaseEnd).length;
    if (cache && held > reused && this.reader === seq) yield await this.save(cache, chain.slice(0, held + 1), seq, held);
  }

  /** Loads the entry sharing the longest prefix and cuts it to that prefix; anything amiss means a cold start. */
  private async warmStart(cache: CodebaseStateCache, chain: string[], seq: EngineSequence, opening: Token[], segmentTokens: TokenList[], ends: number[]): Promise<{ file: string; segments: number } | undefined> {
    const hit = await cache.find(this.engine.info.stateKey!, chain).catch(() => undefined);
    if (!hit) return undefined;
    try {
      await cache.guardLoad(hit.file, () => this.restore(seq, hit.file, ends[hit.segments - 1]!));
      // The file's own tokens must be exactly the codebase's: a hash collision or a foreign file is refused.
      const expected = concatTokens([opening, ...segmentTokens.slice(0, hit.segments)]);
      const held = seq.tokens;
      if (held.length !== expected.length || expected.some((t, i) => held[i] !== t)) throw new Error("the cached state holds other tokens");
      return { file: hit.file, segments: hit.segments };
    } catch (err) {
      // Said once, in run-started: a damaged entry is dropped, so the next run does not meet it.
      if (err instanceof CacheEntryDamaged) this.cacheNote = err.message;
      await seq.truncate(0).catch(() => undefined);
      return undefined;
    }
  }

  private async restore(seq: EngineSequence, file: string, end: number): Promise<void> {
    await seq.loadState!(file);
    if (seq.length < end) throw new Error("the cached state is shorter than expected");
    await seq.truncate(end);
  }

  private async save(cache: CodebaseStateCache, chain: string[], seq: EngineSequence, segments: number): Promise<WimEvent> {
    try {
      const r = await cache.store(this.engine.info.stateKey!, chain, (file) => seq.saveState!(file));
      return { type: "cache-saved", runId: this.runId, segments, bytes: r.stored, entries: r.entries, totalBytes: r.bytes, limitBytes: r.limitBytes };
    } catch (err) {
      // A full disk or an unwritable folder costs the next question its warm start, nothing more.
      return { type: "cache-saved", runId: this.runId, segments, bytes: 0, entries: 0, totalBytes: 0, limitBytes: 0, error: (err as Error).message };
    }
  }

  private async *answerPhase(
    started: number, signal: AbortSignal | undefined, stoppedBy: StopReason, read: number, timings: RunTimings,
    counts: { prefilled: number; margins: number; evaluatedAtStart: number } = { prefilled: 0, margins: 0, evaluatedAtStart: this.engine.evaluatedTokens },
  ): AsyncGenerator<WimEvent> {
    const engine = this.engine;
    const seq = this.reader!;
    const answerStarted = performance.now();
    await seq.truncate(this.codebaseEnd);
    const byId = new Map(this.margins.map((m) => [m.segment, m]));
    let kept = this.keptMarginIds();
    if (kept.length > this.maxAnswerMargins) {
      const best = [...kept].sort((a, b) => (byId.get(b)!.score ?? 0.5) - (byId.get(a)!.score ?? 0.5) || a - b).slice(0, this.maxAnswerMargins);
      kept = kept.filter((id) => best.includes(id));
    }
    const reader = engine.chatParts(prompts.READER_SYSTEM);
    const build = (ids: number[]): Token[] => [...engine.tokenizeText(prompts.answerPrompt(ids.map((id) => ({ segment: id, text: byId.get(id)!.text })), this.question)), ...reader.suffix];
    let prompt = build(kept);
    // Model text can come back re-tokenized longer than it was written: drop the weakest margins
    // until the prompt and the answer fit, rather than overflow the context.
    const room = this.readerTokens - this.codebaseEnd - this.answerTokens;
    while (prompt.length > room && kept.length) {
      const weakest = kept.reduce((w, id) => ((byId.get(id)!.score ?? 0.5) <= (byId.get(w)!.score ?? 0.5) ? id : w), kept[0]!);
      kept = kept.filter((id) => id !== weakest);
      prompt = build(kept);
    }
    this.lastAnswerMarginIds = kept;
    this.keptAtAnswer = this.keptMarginIds();
    yield { type: "answer-started", runId: this.runId, marginIds: kept, promptTokens: prompt.length };
    yield this.keptState();
    const context = this.options.trace ? [...seq.tokens] : [];
    const text = new TextStream((t) => engine.detokenize(t));
    let aborted = false;
    try {
      for await (const token of seq.generate(prompt, { maxTokens: this.answerTokens, ...(signal ? { signal } : {}) })) {
        const delta = text.push(token);
        if (delta) yield { type: "answer-token", runId: this.runId, text: delta };
      }
      const rest = text.flush();
      if (rest) yield { type: "answer-token", runId: this.runId, text: rest };
      aborted = signal?.aborted ?? false;
    } catch (err) {
      if (!isAbortError(err)) throw err;
      aborted = true;
    } finally {
      // Back to the end of the codebase, so a re-answer appends to exactly the same context.
      await seq.truncate(this.codebaseEnd);
    }
    if (this.options.trace) this.trace.answers.push({ context, prompt, answer: [...text.all] });
    timings.answerMs += performance.now() - answerStarted;
    yield this.doneEvent(aborted ? "aborted" : stoppedBy, text.text, read, started, timings, {
      prefilled: counts.prefilled, margins: counts.margins, answer: text.count, evaluated: engine.evaluatedTokens - counts.evaluatedAtStart,
    });
  }

  /** A separate verdict, then the state it leaves. */
  private *judged(event: WimEvent): Generator<WimEvent> {
    yield event;
    yield this.keptState();
  }

  private doneEvent(stoppedBy: StopReason, answer: string, read: number, started: number, timings: RunTimings, tokens: { prefilled: number; margins: number; answer: number; evaluated: number }): WimEvent {
    // The answer may cite any file the run read.
    const sources = this.codebase.segments.slice(0, read).flatMap((s) => s.sources);
    return { type: "done", runId: this.runId, stoppedBy, answer, citations: answer ? findCitations(answer, sources) : [], segmentsRead: read, timings: { ...timings, totalMs: performance.now() - started }, tokens, ...this.serverCache() };
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
