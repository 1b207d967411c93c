// Messages between the extension and the Margins webview. Both sides switch on `type`
// exhaustively; every run message carries its run id so a stopped run's stragglers are ignored.
import type { Coverage, WimEvent } from "../core/wim/events";

/** The question the view shows, and whether it is still planning, reading or answering. */
export interface RunHeader {
  runId: string; question: string; active: boolean;
  /** What planning found, in a line: files and tokens, what was skipped and why, files not in UTF-8. */
  read?: string;
}

/** The model in use, for the idle view: unset, a file (its size), or a model id downloaded on first use; where the last run ran. */
/** The model in use; with no name, none is chosen and `suggested` is what the first question offers. */
export interface ModelInfo { name?: string; bytes?: number; remote?: boolean; where?: string; suggested?: { label: string; size: string; why: string } }

/** An earlier question of this window, kept folded in the view: what was asked, answered, and on how much. */
export interface PastRun { runId: string; question: string; answer: string; stoppedBy: string; coverage?: Coverage }

export type ToWebview =
  /** Everything of the current run so far: sent when the view (re)loads, and when a run starts. */
  | { type: "replay"; run?: RunHeader; events: WimEvent[]; status?: string; history: PastRun[]; model: ModelInfo }
  | { type: "event"; event: WimEvent }
  | { type: "status"; runId: string; text: string }
  | { type: "focus-question" };

export type FromWebview =
  | { type: "ready" }
  | { type: "ask"; question: string }
  | { type: "stop"; runId: string }
  | { type: "answer-now"; runId: string }
  | { type: "reject"; runId: string; segment: number; rejected: boolean }
  | { type: "reanswer"; runId: string }
  | { type: "open"; path: string; startLine: number; endLine: number }
  | { type: "copy"; text: string }
  /** An error named the setting that caused it: open it (checked against the option table). */
  | { type: "open-setting"; setting: string }
  | { type: "choose-model" };

const FROM_WEBVIEW: readonly FromWebview["type"][] = ["ready", "ask", "stop", "answer-now", "reject", "reanswer", "open", "copy", "open-setting", "choose-model"];

export function isFromWebview(value: unknown): value is FromWebview {
  const v = value as { type?: unknown } | null;
  return typeof v === "object" && v !== null && typeof v.type === "string" && (FROM_WEBVIEW as readonly string[]).includes(v.type);
}
