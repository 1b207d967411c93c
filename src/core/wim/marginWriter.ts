// One margin at a time on the reader sequence: append the extractive prompt after whatever the
// reader holds, write the margin greedily (or stop at a fused "no"), erase both from the end, and
// judge the margin (verdict.ts). Reading forward and the warm cache's backward pass both use it.
import type { SourcePiece } from "../pack/packer";
import { findCitations } from "./citations";
import { abortError, type EngineSequence, type Token, type TokenList, type WimEngine } from "./engine";
import { sourcesOf, type RunTimings, type WimEvent } from "./events";
import * as prompts from "./prompts";
import { TextStream } from "./textStream";
import * as verdict from "./verdict";

export interface MarginRecord {
  segment: number;
  text: string;
  tokens: number;
  partial: boolean;
  relevant?: boolean;
  score?: number;
}

export interface MarginTrace { before: Token[]; prompt: Token[]; margin: Token[]; afterErase: Token[]; score?: number }

export interface MarginWriterOptions {
  engine: WimEngine;
  reader: EngineSequence;
  /** The second sequence, holding the classifier's opening, when mode is "separate". */
  classifier?: EngineSequence;
  mode: verdict.ClassifyMode;
  judge: (segment: number, score: number) => boolean;
  question: string;
  /** The extractive prompt as appended after each segment, the template's assistant opening included (the session sizes the context by it). */
  extract: Token[];
  /** The verdict words' tokens, unless mode is "off" (the session sizes the context by the longest "yes"). */
  yesNo?: verdict.VerdictTokens;
  marginTokens: number;
  runId: string;
  timings: RunTimings;
  signal?: AbortSignal;
  answerNow: () => boolean;
  /** Receives each margin's token-level record, for exactness tests. */
  trace?: (t: MarginTrace) => void;
}

export class MarginWriter {
  private readonly extract: Token[];
  private readonly yesNo?: verdict.VerdictTokens;
  private readonly classifierTail: Token[] = [];
  private classifierHead = 0;
  private pending?: Promise<MarginRecord>;

  constructor(private readonly o: MarginWriterOptions) {
    const e = o.engine;
    this.extract = o.extract;
    this.yesNo = o.yesNo;
    if (o.mode === "separate") this.classifierTail = [...e.tokenizeText(prompts.CLASSIFIER_TAIL), ...e.chatParts(prompts.CLASSIFIER_SYSTEM).suffix];
  }

  /** Puts the classifier's opening on its sequence; once per run. */
  async open(): Promise<void> {
    const c = this.o.classifier;
    if (!c) return;
    const parts = this.o.engine.chatParts(prompts.CLASSIFIER_SYSTEM);
    await c.append([...parts.prefix, ...this.o.engine.tokenizeText(prompts.classifierHead(this.o.question))], this.o.signal);
    this.classifierHead = c.length;
  }

  /** The separate classifier's verdict on the previous margin, if one is being judged. */
  takePending(): Promise<MarginRecord> | undefined {
    const p = this.pending;
    this.pending = undefined;
    return p;
  }

  /** Waits for a classification in flight, errors ignored: for cleanup before the sequences are reused. */
  async settle(): Promise<void> {
    await this.takePending()?.catch(() => undefined);
  }

  classified(r: MarginRecord): WimEvent {
    return { type: "margin-classified", runId: this.o.runId, segment: r.segment, relevant: r.relevant!, score: r.score!, confident: r.relevant! && r.score! >= verdict.CONFIDENT };
  }

  /** Writes margin `segment` after what the reader holds now, and erases it again. */
  /**
   * A warm window's margins, from segment `last` back to `first`, each after erasing what the
   * reader holds past the segment (`ends[k]`), so that margin k sees exactly what it saw when read.
   * `before(k)` gives the events that go first (progress), `kept(record)` those after (the kept
   * state). Returns false when an answer was asked for before every margin was written.
   */
  async *writeBackward(o: {
    first: number; last: number; ends: readonly number[]; sources: (k: number) => readonly SourcePiece[]; tokens: (k: number) => TokenList;
    before: (k: number) => WimEvent; kept: (record: MarginRecord) => WimEvent;
  }): AsyncGenerator<WimEvent, boolean> {
    for (let k = o.last; k >= o.first; k--) {
      if (this.o.signal?.aborted) throw abortError(this.o.signal);
      if (this.o.answerNow()) return false;
      await this.o.reader.truncate(o.ends[k]!);
      yield o.before(k);
      const record = yield* this.write(k, o.sources(k), o.tokens(k));
      const judged = await this.takePending();
      if (judged) yield this.classified(judged);
      yield o.kept(record);
    }
    return true;
  }

  async *write(segment: number, sources: readonly SourcePiece[], copyFrom?: TokenList): AsyncGenerator<WimEvent, MarginRecord> {
    const { engine, reader: seq, signal, runId } = this.o;
    const started = performance.now();
    // The segment's tail, held back by the engine, rides with the prompt: its share of the first evaluation is prefill.
    const carried = seq.heldTokens ?? 0;
    let firstEvaluation: number | undefined;
    const before = seq.length;
    const beforeTokens = this.o.trace ? [...seq.tokens] : [];
    // Fused: the prompt's own evaluation yields the verdict; only a relevant margin decodes on, after its "yes".
    let fused: { score: number; relevant: boolean } | undefined;
    let prompt = this.extract;
    let continueFrom = this.extract;
    if (this.o.mode === "fused") {
      const p = await seq.nextTokenProbabilities(this.extract, verdict.candidates(this.yesNo!));
      firstEvaluation = performance.now() - started;
      const s = verdict.score(this.yesNo!, p);
      fused = { score: s, relevant: this.o.judge(segment, s) };
      continueFrom = fused.relevant ? verdict.likeliestYes(this.yesNo!, p) : [];
      prompt = [...this.extract, ...continueFrom];
    }
    const text = new TextStream((t) => engine.detokenize(t), fused ? verdict.VERDICT_SEPARATOR : undefined);
    if (continueFrom.length) {
      for await (const token of seq.generate(continueFrom, { maxTokens: this.o.marginTokens, ...(signal ? { signal } : {}), shouldStop: this.o.answerNow, ...(copyFrom ? { copyFrom } : {}) })) {
        firstEvaluation ??= performance.now() - started;
        const delta = text.push(token);
        if (delta) yield { type: "margin-token", runId, segment, text: delta };
      }
    }
    const rest = text.flush();
    if (rest) yield { type: "margin-token", runId, segment, text: rest };
    await seq.truncate(before);
    if (signal?.aborted) throw abortError(signal);
    const tail = carried && firstEvaluation ? firstEvaluation * carried / (carried + this.extract.length) : 0;
    this.o.timings.prefillMs += tail;
    this.o.timings.marginMs += performance.now() - started - tail;
    this.o.trace?.({ before: beforeTokens, prompt, margin: [...text.all], afterErase: [...seq.tokens], ...(fused ? { score: fused.score } : {}) });
    const partial = this.o.answerNow() && fused?.relevant !== false && text.count < this.o.marginTokens;
    const record: MarginRecord = { segment, text: text.text, tokens: text.count, partial, ...fused };
    yield { type: "margin-done", runId, segment, text: text.text, tokens: text.count, sources: sourcesOf(sources), citations: findCitations(text.text, sources), partial };
    if (fused) yield this.classified(record);
    if (this.o.classifier && text.text.trim()) this.pending = this.classify(record);
    return record;
  }

  /** Judged on the second sequence; the caller queues it beside the next prefill so both share decode batches. */
  private classify(record: MarginRecord): Promise<MarginRecord> {
    const began = performance.now();
    const c = this.o.classifier!;
    const prompt = [...this.o.engine.tokenizeText(record.text), ...this.classifierTail];
    return c.nextTokenProbabilities(prompt, verdict.candidates(this.yesNo!)).then(async (p) => {
      await c.truncate(this.classifierHead);
      record.score = verdict.score(this.yesNo!, p);
      record.relevant = this.o.judge(record.segment, record.score);
      this.o.timings.classifyMs += performance.now() - began;
      return record;
    });
  }
}
