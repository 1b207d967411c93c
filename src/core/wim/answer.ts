// The answer, after the codebase: the kept margins and the question appended to the reader, the
// answer generated, and everything after the codebase erased again, so that a re-answer appends
// to exactly the same context. Room is made as layout.ts says (the codebase's end before any
// margin), and what was left out is said in answer-started.
import { isAbortError, type EngineSequence, type Token, type WimEngine } from "./engine";
import type { WimEvent } from "./events";
import { fitAnswer } from "./layout";
import type { MarginRecord } from "./marginWriter";
import * as prompts from "./prompts";
import { TextStream } from "./textStream";

export interface AnswerInput {
  engine: WimEngine;
  reader: EngineSequence;
  runId: string;
  question: string;
  answerTokens: number;
  contextTokens: number;
  opening: number;
  /** Where each segment the reader holds ends, in order. */
  ends: readonly number[];
  margins: readonly MarginRecord[];
  kept: readonly number[];
  signal?: AbortSignal;
  /** Receives the context, prompt and answer tokens, for exactness tests. */
  trace?: (t: { context: Token[]; prompt: Token[]; answer: Token[] }) => void;
}

export interface AnswerResult { text: string; tokens: number; aborted: boolean; codebaseEnd: number; marginIds: number[] }

export async function* writeAnswer(i: AnswerInput): AsyncGenerator<WimEvent, AnswerResult> {
  const { engine, reader: seq } = i;
  const byId = new Map(i.margins.map((m) => [m.segment, m]));
  const suffix = engine.chatParts(prompts.READER_SYSTEM).suffix;
  const build = (ids: readonly number[]): Token[] => [...engine.tokenizeText(prompts.answerPrompt(ids.map((id) => ({ segment: id, text: byId.get(id)!.text })), i.question)), ...suffix];
  const fit = fitAnswer({
    kept: i.kept, score: (id) => byId.get(id)?.score ?? 0.5, promptLength: (ids) => build(ids).length,
    ends: i.ends, opening: i.opening, contextTokens: i.contextTokens, answerTokens: i.answerTokens,
  });
  await seq.truncate(fit.codebaseEnd);
  const prompt = build(fit.kept);
  const codebaseSegments = i.ends.filter((e) => e <= fit.codebaseEnd).length;
  yield {
    type: "answer-started", runId: i.runId, marginIds: fit.kept, promptTokens: prompt.length, dropped: fit.dropped,
    ...(codebaseSegments < i.ends.length ? { codebaseCut: { kept: codebaseSegments, of: i.ends.length } } : {}),
  };
  const context = i.trace ? [...seq.tokens] : [];
  const text = new TextStream((t) => engine.detokenize(t));
  let aborted = false;
  try {
    for await (const token of seq.generate(prompt, { maxTokens: i.answerTokens, copyFrom: prompt, ...(i.signal ? { signal: i.signal } : {}) })) {
      const delta = text.push(token);
      if (delta) yield { type: "answer-token", runId: i.runId, text: delta };
    }
    const rest = text.flush();
    if (rest) yield { type: "answer-token", runId: i.runId, text: rest };
    aborted = i.signal?.aborted ?? false;
  } catch (err) {
    if (!isAbortError(err)) throw err;
    aborted = true;
  } finally {
    await seq.truncate(fit.codebaseEnd);
  }
  i.trace?.({ context, prompt, answer: [...text.all] });
  return { text: text.text, tokens: text.count, aborted, codebaseEnd: fit.codebaseEnd, marginIds: fit.kept };
}
