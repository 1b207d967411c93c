// Writing in the Margins over an engine's token sequences (Russak et al., 2024). The codebase is
// prefilled once, segment by segment, on the reader sequence; after each segment an extractive
// prompt is appended, a margin generated greedily, and both erased from the end of the cache. Each
// margin is judged relevant or not (verdict.ts: fused into the margin, or on a second sequence).
// The answer sees every segment plus the margins kept.
import { randomUUID } from "node:crypto";
import { segmentChunks, type Segment } from "../pack/packer";
import { findCitations } from "./citations";
import { abortError, ContextTooSmallError, isAbortError, type EngineSequence, type Token, type WimEngine } from "./engine";
import { sourcesOf, type RunTimings, type StopReason, type WimEvent } from "./events";
import * as prompts from "./prompts";
import { TextStream } from "./textStream";
import * as verdict from "./verdict";
import { assignWindows } from "./windows";

export { assignWindows };

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
}

export interface MarginRecord {
  segment: number;
  text: string;
  tokens: number;
  partial: boolean;
  relevant?: boolean;
  score?: number;
}

export interface WimTrace {
  /** Reader tokens before each margin's prompt, the prompt (with a fused verdict's "yes" when it was relevant), the margin generated, and a fused verdict's score. */
  margins: { before: Token[]; prompt: Token[]; margin: Token[]; afterErase: Token[]; score?: number }[];
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
  private busy = false;
  private maxAnswerMargins = Infinity;

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

  setRejected(segment: number, rejected: boolean): void {
    if (rejected) this.rejected.add(segment);
    else this.rejected.delete(segment);
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
    const signal = this.options.signal;
    const engine = this.engine;
    const timings = emptyTimings();
    const questionTokens = engine.tokenizeText(this.question).length;
    if (questionTokens > MAX_QUESTION_TOKENS) {
      throw new Error(`the question is too long: ${questionTokens.toLocaleString("en-US")} tokens, at most ${MAX_QUESTION_TOKENS.toLocaleString("en-US")}`);
    }
    const segmentTokens = this.codebase.segments.map((s) => segmentChunks(s).flatMap((c) => engine.tokenizeText(c)));
    const total = segmentTokens.reduce((n, t) => n + t.length, 0);
    const reader = engine.chatParts(prompts.READER_SYSTEM);
    const opening = [...reader.prefix, ...engine.tokenizeText(prompts.CODEBASE_INTRO)];
    const mode = this.options.classify ?? "fused";
    const judge = this.options.judge ?? verdict.byScore;
    const extractText = mode === "fused" ? prompts.fusedExtractivePrompt(this.question) : prompts.extractivePrompt(this.question);
    const extract = [...engine.tokenizeText(extractText), ...reader.suffix];
    const placeholder = this.codebase.segments.map((s) => ({ segment: s.index, text: "" }));
    const answerFixed = engine.tokenizeText(prompts.answerPrompt(placeholder, this.question)).length + reader.suffix.length;
    const contextLimit = Math.min(engine.info.trainContextSize, this.options.contextTokens ?? Infinity);
    // Each kept margin may come back re-tokenized a little longer than it was generated. With more
    // segments than half the context can hold margins for, the answer takes the best-judged ones.
    const perMargin = this.marginTokens + 8;
    this.maxAnswerMargins = Math.max(1, Math.min(this.codebase.segments.length, Math.floor((contextLimit / 2 - answerFixed - this.answerTokens) / perMargin)));
    const answerRoom = answerFixed + this.maxAnswerMargins * perMargin + this.answerTokens;
    const reserve = Math.max(extract.length + this.marginTokens, answerRoom);
    const windows = assignWindows(segmentTokens.map((t) => t.length), contextLimit - opening.length - reserve);
    if (!windows) {
      const largest = Math.max(...segmentTokens.map((t) => t.length));
      throw new ContextTooSmallError(opening.length + largest + reserve, contextLimit,
        `a ${largest.toLocaleString("en-US")}-token segment and room for ${this.codebase.segments.length} margins and the answer do not fit; use smaller segments or shorter margins`);
    }
    const windowCount = windows.length ? windows[windows.length - 1]! + 1 : 1;
    const largestWindow = Math.max(0, ...Array.from({ length: windowCount }, (_, w) => segmentTokens.reduce((n, t, k) => n + (windows[k] === w ? t.length : 0), 0)));
    const needed = opening.length + largestWindow + reserve;
    const classify = mode === "separate";
    const classifierParts = classify ? engine.chatParts(prompts.CLASSIFIER_SYSTEM) : undefined;
    let prepared: EngineSequence[];
    try {
      prepared = await engine.prepare({ tokensPerSequence: needed, sequences: classify ? 2 : 1, ...(signal ? { signal } : {}) });
    } catch (err) {
      if (!isAbortError(err) && !signal?.aborted) throw err;
      yield this.doneEvent("aborted", "", 0, started, timings, { prefilled: 0, margins: 0, answer: 0, evaluated: 0 });
      return;
    }
    const [seq, classifierSeq] = prepared;
    this.reader = seq!;
    yield {
      type: "run-started", runId: this.runId, files: this.codebase.files, tokens: total, segments: segmentTokens.length, windows: windowCount,
      model: engine.info.model, backend: engine.info.backend, gpuNames: engine.info.gpuNames, contextSize: needed,
      ...(engine.info.backendNote ? { backendNote: engine.info.backendNote } : {}),
    };

    const evaluatedAtStart = engine.evaluatedTokens;
    const yesNo = mode !== "off" ? verdict.verdictTokens(engine) : undefined;
    const classifierTail = classifierParts ? [...engine.tokenizeText(prompts.CLASSIFIER_TAIL), ...classifierParts.suffix] : [];
    let classifierHead = 0;
    let pending: Promise<MarginRecord> | undefined;
    const startClassify = (record: MarginRecord): Promise<MarginRecord> => {
      const began = performance.now();
      const prompt = [...engine.tokenizeText(record.text), ...classifierTail];
      return classifierSeq!.nextTokenProbabilities(prompt, verdict.candidates(yesNo!)).then(async (p) => {
        await classifierSeq!.truncate(classifierHead);
        record.score = verdict.score(yesNo!, p);
        record.relevant = judge(record.segment, record.score);
        timings.classifyMs += performance.now() - began;
        return record;
      });
    };
    const classified = (r: MarginRecord): WimEvent => ({ type: "margin-classified", runId: this.runId, segment: r.segment, relevant: r.relevant!, score: r.score! });

    let stoppedBy: StopReason = "finished";
    let read = 0;
    let tokensRead = 0;
    let marginTokens = 0;
    try {
      let prefillStarted = performance.now();
      await seq!.append(opening, signal);
      timings.prefillMs += performance.now() - prefillStarted;
      if (classifierSeq && classifierParts) {
        await classifierSeq.append([...classifierParts.prefix, ...engine.tokenizeText(prompts.classifierHead(this.question))], signal);
        classifierHead = classifierSeq.length;
      }
      for (let k = 0; k < segmentTokens.length; k++) {
        if (signal?.aborted) throw abortError(signal);
        if (this.answerNowRequested) { stoppedBy = "answer-now"; break; }
        if (k > 0 && windows[k] !== windows[k - 1]) {
          // The next segment does not fit: keep the margins, clear the codebase, read on.
          await pending;
          await seq!.truncate(opening.length);
          yield { type: "window-started", runId: this.runId, window: windows[k]!, windows: windowCount, firstSegment: k };
        }
        prefillStarted = performance.now();
        // Queued in the same tick as the previous margin's classification: one decode batch serves both.
        const prefill = seq!.append(segmentTokens[k]!, signal);
        const [, done] = await Promise.all([prefill, pending]);
        pending = undefined;
        timings.prefillMs += performance.now() - prefillStarted;
        if (done) yield classified(done);
        read = k + 1;
        tokensRead += segmentTokens[k]!.length;
        const rate = tokensRead / Math.max(timings.prefillMs / 1000, 1e-6);
        const perMargin = read > 1 ? timings.marginMs / 1000 / (read - 1) : 0;
        yield {
          type: "segment-progress", runId: this.runId, segment: k, segments: segmentTokens.length, window: windows[k]!, windows: windowCount, tokensRead, totalTokens: total,
          tokensPerSecond: rate, etaSeconds: (total - tokensRead) / rate + perMargin * (segmentTokens.length - k),
        };

        const marginStarted = performance.now();
        const before = seq!.length;
        const beforeTokens = this.options.trace ? [...seq!.tokens] : [];
        // Fused: the prompt's own evaluation yields the verdict; only a relevant margin decodes on, after its "yes".
        let fused: { score: number; relevant: boolean } | undefined;
        let prompt = extract;
        let continueFrom = extract;
        if (mode === "fused") {
          const p = await seq!.nextTokenProbabilities(extract, verdict.candidates(yesNo!));
          const s = verdict.score(yesNo!, p);
          fused = { score: s, relevant: judge(k, s) };
          continueFrom = fused.relevant ? [verdict.likeliestYes(yesNo!, p)] : [];
          prompt = [...extract, ...continueFrom];
        }
        const text = new TextStream((t) => engine.detokenize(t), fused ? verdict.VERDICT_SEPARATOR : undefined);
        if (continueFrom.length) {
          for await (const token of seq!.generate(continueFrom, { maxTokens: this.marginTokens, ...(signal ? { signal } : {}), shouldStop: () => this.answerNowRequested })) {
            const delta = text.push(token);
            if (delta) yield { type: "margin-token", runId: this.runId, segment: k, text: delta };
          }
        }
        const rest = text.flush();
        if (rest) yield { type: "margin-token", runId: this.runId, segment: k, text: rest };
        await seq!.truncate(before);
        if (signal?.aborted) throw abortError(signal);
        timings.marginMs += performance.now() - marginStarted;
        marginTokens += text.count;
        if (this.options.trace) this.trace.margins.push({ before: beforeTokens, prompt, margin: [...text.all], afterErase: [...seq!.tokens], ...(fused ? { score: fused.score } : {}) });
        const partial = this.answerNowRequested && fused?.relevant !== false && text.count < this.marginTokens;
        const record: MarginRecord = { segment: k, text: text.text, tokens: text.count, partial, ...fused };
        this.margins.push(record);
        const sources = this.codebase.segments[k]!.sources;
        yield { type: "margin-done", runId: this.runId, segment: k, text: text.text, tokens: text.count, sources: sourcesOf(sources), citations: findCitations(text.text, sources), partial };
        if (fused) yield classified(record);
        if (classifierSeq && text.text.trim()) pending = startClassify(record);
      }
      if (pending) yield classified(await pending);
      pending = undefined;
    } catch (err) {
      // An evaluation cannot be interrupted: let the classifier finish before the sequences are reused.
      await pending?.catch(() => undefined);
      await seq!.truncate(0).catch(() => undefined);
      this.reader = undefined;
      if (isAbortError(err)) {
        yield this.doneEvent("aborted", "", read, started, timings, { prefilled: tokensRead, margins: marginTokens, answer: 0, evaluated: engine.evaluatedTokens - evaluatedAtStart });
        return;
      }
      throw err;
    }
    this.codebaseEnd = seq!.length;
    timings.totalMs = performance.now() - started;
    yield* this.answerPhase(started, signal, stoppedBy, read, timings, { prefilled: tokensRead, margins: marginTokens, evaluatedAtStart });
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
    const notes = kept.map((id) => ({ segment: id, text: byId.get(id)!.text }));
    const reader = engine.chatParts(prompts.READER_SYSTEM);
    const prompt = [...engine.tokenizeText(prompts.answerPrompt(notes, this.question)), ...reader.suffix];
    this.lastAnswerMarginIds = kept;
    yield { type: "answer-started", runId: this.runId, marginIds: kept, promptTokens: prompt.length };
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

  private doneEvent(stoppedBy: StopReason, answer: string, read: number, started: number, timings: RunTimings, tokens: { prefilled: number; margins: number; answer: number; evaluated: number }): WimEvent {
    return { type: "done", runId: this.runId, stoppedBy, answer, segmentsRead: read, timings: { ...timings, totalMs: performance.now() - started }, tokens };
  }
}

function emptyTimings(): RunTimings {
  return { totalMs: 0, prefillMs: 0, marginMs: 0, classifyMs: 0, answerMs: 0 };
}
