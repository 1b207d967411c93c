// Messages between a host (the extension, or the CLI) and the engine's own process. The engine
// lives in a child process so that a native abort, a GPU fault or running out of memory kills
// only that process. A question goes: plan (the engine resolves the model, reads and tokenizes the
// codebase, keeps the plan under an id, and starts loading the model), then run by that id: what
// the user was shown is what runs.
import type { WimEvent } from "../core/wim/events";
import type { ExcludeGlobs } from "../core/workspace/editorExcludes";
import type { FolderEncoding } from "../core/workspace/reader";
import type { SkipReason } from "../core/workspace/reader";
import type { Machine } from "./modelCatalog";
import type { RunSettings } from "./settings";

export type { RunSettings };

/** What the confirmation shows, and the id that runs it. */
export interface PlanSummary {
  planId: string;
  files: number;
  bytes: number;
  tokens: number;
  segments: number;
  skipped: number;
  skippedByReason: Partial<Record<SkipReason, number>>;
  /** Files read in another encoding than UTF-8 (or with invalid bytes replaced), by encoding. */
  decodedByEncoding?: Record<string, number>;
  /** Files read as an editor holds them, with changes not saved (their paths as the plan shows them). */
  unsaved?: string[];
  /** Large data files of which only the first lines are read. */
  dataHeads?: string[];
  /** The model's trained context, to say before reading whether the codebase fits. */
  contextSize: number;
  /** The model file's name. */
  model: string;
  /** Who listed the files: "git ls-files", or the built-in reader and what it could not see. */
  listing: string;
  /** The order files are read in: by path, or those likeliest to answer first (more than one window). */
  order?: { by: "path" | "relevance"; leading: string[]; matched: number };
  /** Windows and a time range, before reading. */
  estimate?: PlanEstimate;
}

/** What a plan will cost: windows, and a time range from this machine's runs or the model's size. */
export interface PlanEstimate {
  windows: number;
  lowSeconds: number;
  highSeconds: number;
  basis: "measured" | "model-size";
  /** Where it was measured ("cpu", "cuda", ...) or is assumed to run ("cpu", "gpu"). */
  where: string;
}

/** Where planning is: fetching the model, reading files, tokenizing them. */
export interface PlanProgress {
  stage: "downloading" | "reading" | "tokenizing";
  /** Downloading: bytes so far and in all (0 when unknown). */
  downloaded?: number;
  total?: number;
  /** Reading: files found to read so far, then files and bytes read. */
  seen?: number;
  files?: number;
  bytes?: number;
}

/**
 * Why a request failed, for the host to choose what to offer: "model" (missing, not a GGUF file,
 * too large), "download" (an `hf:` model or URL could not be fetched: the endpoint, the network,
 * the disk), "input" (nothing to read, a question too long, a context too small), "server",
 * "cancelled", or "internal".
 */
export interface EngineFailure { message: string; kind: "model" | "download" | "input" | "server" | "cancelled" | "internal" }

/** Whether to offer building the CUDA backend on this machine, and if not, why not (for the log). */
export type CudaOffer = { offer: true; message: string } | { offer: false; why: string };

/** A CUDA build's progress: a stage, or the share of the compile done. */
export interface BuildProgress { message: string; percent?: number }

/** A finished CUDA build: how long it took, where it is kept, and the changes this project made to node-llama-cpp's source for it. */
export interface BuildResult { seconds: number; dir: string; changes?: string[] }

/** A file's text in an editor, changed and not saved: read in place of the disk's. */
export interface UnsavedText { path: string; text: string }

/**
 * What VS Code shows of the workspace: files changed and not saved, what its settings hide, and
 * the legacy encoding each workspace folder's `files.encoding` names (used unless the encoding
 * setting names one for all).
 */
export interface EditorView { unsaved?: UnsavedText[]; excludes?: ExcludeGlobs[]; encodings?: FolderEncoding[] }

export type ToEngine =
  | { type: "plan"; requestId: string; roots: string[]; question: string; settings: RunSettings; editor?: EditorView }
  /** Stops a plan in flight (a download, the reading). */
  | { type: "cancel"; requestId: string }
  /** Runs a plan the engine made; its events carry `runId`. */
  | { type: "run"; runId: string; planId: string }
  /** The user backed out: the plan's files and tokens are let go. */
  | { type: "drop-plan"; planId: string }
  | { type: "answer-now"; runId: string }
  | { type: "stop"; runId: string }
  | { type: "reject"; runId: string; segment: number; rejected: boolean }
  | { type: "reanswer"; runId: string }
  | { type: "stats"; requestId: string }
  /** What a model is suggested from: memory, cores and the GPU the engine would use. */
  | { type: "machine"; requestId: string }
  /** Whether to offer the CUDA build now; an offer made is recorded, so it is made once. */
  | { type: "cuda-offer"; requestId: string }
  | { type: "cuda-answer"; answer: "later" | "never" }
  /** Builds the CUDA backend from source, kept in `storeDir`; a `cancel` with its id stops it. */
  | { type: "build-cuda"; requestId: string; storeDir: string }
  | { type: "crash"; how: "abort" }
  | { type: "shutdown" };

export type FromEngine =
  | { type: "ready"; pid: number }
  | { type: "status"; text: string }
  | { type: "plan-progress"; requestId: string; progress: PlanProgress }
  | { type: "planned"; requestId: string; summary?: PlanSummary; error?: EngineFailure }
  | { type: "event"; event: WimEvent }
  | { type: "run-ended"; runId: string }
  | { type: "stats"; requestId: string; stats: EngineStats }
  | { type: "machine"; requestId: string; machine: Machine }
  | { type: "cuda-offer"; requestId: string; offer: CudaOffer }
  /** `line`: the build's own output, for a log. */
  | { type: "build-progress"; requestId: string; progress?: BuildProgress; line?: string }
  | { type: "built"; requestId: string; result?: BuildResult; error?: EngineFailure };

/** What the engine's process holds, for the soak test, diagnostics and benchmarks. */
export interface EngineStats {
  rssBytes: number;
  heapUsedBytes: number;
  contexts: number;
  sequences: number;
  modelsLoaded: number;
  /** Plans kept, waiting to run. */
  plans: number;
  /** Characters of file text counted or tokenized since the process started (planning and runs). */
  tokenizedChars: number;
}

export type ToEngineType = ToEngine["type"];
