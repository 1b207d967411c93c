// Messages between the extension host and the engine's own process. The engine lives in a child
// process so that a native abort, a GPU fault or running out of memory kills only that process.
import type { WimEvent } from "../core/wim/events";
import type { SkipReason } from "../core/workspace/reader";
import type { GpuChoice } from "../engine/llama/runtime";
import type { ServerKind } from "../engine/server/serverApi";
import type { ClassifyMode } from "../core/wim/verdict";

export interface RunSettings {
  modelPath: string;
  gpu: GpuChoice;
  segmentTokens: number;
  marginTokens: number;
  answerTokens: number;
  classify: ClassifyMode;
  include: string[];
  exclude: string[];
  respectGitignore: boolean;
  /** CPU threads; 0 means the machine's cores. */
  threads: number;
  /** GPU memory to leave free for other programs, in MiB (absent or 0: none). */
  gpuReserveMiB?: number;
  /** The warm codebase cache's folder and size limit; a limit of 0 turns it off. */
  cacheDir: string;
  cacheLimitBytes: number;
  /** Run the model on a server instead (llama-server or vLLM); the model file then serves for its tokenizer. */
  server?: { url: string; kind?: ServerKind; model?: string; apiKey?: string };
}

export interface PlanSummary {
  files: number;
  bytes: number;
  tokens: number;
  segments: number;
  skipped: number;
  skippedByReason: Partial<Record<SkipReason, number>>;
  /** The model's context, to say before reading whether the codebase fits. */
  contextSize: number;
}

export type ToEngine =
  | { type: "plan"; requestId: string; roots: string[]; settings: RunSettings }
  | { type: "ask"; runId: string; roots: string[]; question: string; settings: RunSettings }
  | { type: "answer-now"; runId: string }
  | { type: "stop"; runId: string }
  | { type: "reject"; runId: string; segment: number; rejected: boolean }
  | { type: "reanswer"; runId: string }
  | { type: "resolve-model"; requestId: string; spec: string; directory: string }
  | { type: "cancel-resolve"; requestId: string }
  | { type: "stats"; requestId: string }
  | { type: "crash"; how: "abort" }
  | { type: "shutdown" };

export type FromEngine =
  | { type: "ready"; pid: number }
  | { type: "status"; text: string }
  | { type: "planned"; requestId: string; summary?: PlanSummary; error?: string }
  | { type: "event"; event: WimEvent }
  | { type: "run-ended"; runId: string }
  | { type: "model-progress"; requestId: string; downloaded: number; total: number }
  | { type: "model-resolved"; requestId: string; path?: string; error?: string }
  | { type: "stats"; requestId: string; stats: EngineStats };

/** What the engine's process holds, for the soak test and diagnostics. */
export interface EngineStats { rssBytes: number; heapUsedBytes: number; contexts: number; sequences: number; modelsLoaded: number }

export type ToEngineType = ToEngine["type"];
