// What a run reports, in order. Every event carries the run's id, so a consumer can ignore a
// cancelled run's stragglers.
import type { SourcePiece } from "../pack/packer";
import type { Citation } from "./citations";

export interface SegmentSource { path: string; startLine: number; endLine: number }

export type StopReason = "finished" | "answer-now" | "aborted";

export interface RunTimings {
  totalMs: number;
  prefillMs: number;
  marginMs: number;
  classifyMs: number;
  answerMs: number;
}

export type WimEvent =
  /**
   * `reusedSegments`: leading segments whose prefill came from the warm cache (their margins are
   * written again: last to first on the reader, or side by side on forks). `changed` / `removed`: files that changed or went away between the
   * plan the user was shown and the run (read again, or left out). `cacheNote`: why the warm
   * cache's entry was not used, when that is news (it was damaged, and dropped). `windowTokens`:
   * the codebase tokens a window holds.
   */
  | { type: "run-started"; runId: string; files: number; tokens: number; segments: number; windows: number; model: string; backend: string; gpuNames: string[]; backendNote?: string; addonShim?: boolean; contextSize: number; windowTokens: number; reusedSegments: number; changed?: string[]; removed?: string[]; cacheNote?: string }
  /** Only when the codebase is larger than the context: the cache is cleared and reading goes on from `firstSegment`. */
  | { type: "window-started"; runId: string; window: number; windows: number; firstSegment: number }
  /** `serverCache`: with a server engine, the share of this run's prompt tokens its prefix cache served. */
  | { type: "segment-progress"; runId: string; segment: number; segments: number; window: number; windows: number; tokensRead: number; totalTokens: number; tokensPerSecond: number; etaSeconds: number; serverCache?: ServerCacheUse }
  | { type: "margin-token"; runId: string; segment: number; text: string }
  | { type: "margin-done"; runId: string; segment: number; text: string; tokens: number; sources: SegmentSource[]; citations: Citation[]; partial: boolean }
  /** `confident`: judged relevant with a high probability: the answer may well be in it (answer now?). */
  | { type: "margin-classified"; runId: string; segment: number; relevant: boolean; score: number; confident: boolean }
  /**
   * The run's state after a verdict, a rejection or an answer: the margins an answer would use now
   * (written, not rejected, not judged irrelevant), those the user rejected, and whether that
   * differs from what the last answer used (a re-answer would say something new).
   */
  | { type: "kept-changed"; runId: string; kept: number[]; rejected: number[]; stale: boolean }
  /**
   * `dropped`: kept margins the answer's prompt could not hold, and why. `codebaseCut`: the answer
   * sees only the first `kept` of the `of` segments the reader held (the rest made room for the notes).
   */
  | { type: "answer-started"; runId: string; marginIds: number[]; promptTokens: number; dropped: { segment: number; reason: string }[]; codebaseCut?: { kept: number; of: number } }
  | { type: "answer-token"; runId: string; text: string }
  /** `citations`: the answer's `path:line` references to files the run read. */
  /** `coverage`: how much of the codebase the answer rests on (all of it, unless answered early or stopped). */
  | { type: "done"; runId: string; stoppedBy: StopReason; answer: string; citations: Citation[]; segmentsRead: number; coverage: Coverage; timings: RunTimings; tokens: { prefilled: number; margins: number; answer: number; evaluated: number }; serverCache?: ServerCacheUse }
  /** `setting`: the option (by its name in the option table) whose value caused it, when one did. */
  | { type: "error"; runId: string; message: string; setting?: string }
  /** After done: the codebase's state was saved for the next question (or could not be: `error`). */
  | { type: "cache-saved"; runId: string; segments: number; bytes: number; entries: number; totalBytes: number; limitBytes: number; error?: string };

/** Segments and tokens read, of all there are. */
export interface Coverage { segments: number; ofSegments: number; tokens: number; ofTokens: number }

/** Prompt tokens a server engine was sent during the run, and how many its prefix cache served. */
export interface ServerCacheUse { promptTokens: number; cachedTokens: number }

export type WimEventType = WimEvent["type"];

/** The end of a run that stopped before reading anything (cancelled while planning or loading, or superseded). */
export function unreadDone(runId: string): Extract<WimEvent, { type: "done" }> {
  return {
    type: "done", runId, stoppedBy: "aborted", answer: "", citations: [], segmentsRead: 0, coverage: { segments: 0, ofSegments: 0, tokens: 0, ofTokens: 0 },
    timings: { totalMs: 0, prefillMs: 0, marginMs: 0, classifyMs: 0, answerMs: 0 }, tokens: { prefilled: 0, margins: 0, answer: 0, evaluated: 0 },
  };
}

export function sourcesOf(pieces: readonly SourcePiece[]): SegmentSource[] {
  return pieces.map((p) => ({ path: p.path, startLine: p.startLine, endLine: p.endLine }));
}
