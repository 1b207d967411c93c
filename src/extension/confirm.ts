// Before a large read: the plan's files, tokens and segments, a time estimate from this machine's
// last runs, and the choice to go, narrow the scope, or back out.
import { sep } from "node:path";
import * as vscode from "vscode";
import type { WimEvent } from "../core/wim/events";
import type { PlanSummary } from "../shared/engineProtocol";

interface Speed { prefillTokensPerSecond: number; marginSecondsPerSegment: number }
const SPEED_KEY = "askCodebase.measuredSpeed";

export type Decision = { go: true } | { go: false; narrowed?: string[] };

export class Confirmation {
  constructor(private readonly state: vscode.Memento) {}

  /** Asks only when the plan is larger than `aboveTokens` or than the model's context. */
  async decide(summary: PlanSummary, aboveTokens: number, roots: string[]): Promise<Decision> {
    const tooLarge = summary.contextSize > 0 && summary.tokens > summary.contextSize;
    if (summary.tokens <= aboveTokens && !tooLarge) return { go: true };
    const speed = this.state.get<Speed>(SPEED_KEY);
    const eta = speed
      ? `about ${Math.max(1, Math.round((summary.tokens / speed.prefillTokensPerSecond + summary.segments * speed.marginSecondsPerSegment) / 60))} min on this machine`
      : "time unknown until a first run on this machine";
    const detail = `${summary.files.toLocaleString("en-US")} files, ${summary.tokens.toLocaleString("en-US")} tokens in ${summary.segments} segments (${eta}).` +
      (summary.skipped ? ` ${summary.skipped} files skipped.` : "") + ` Listed by ${summary.listing}.` +
      (tooLarge ? ` This is more than the model's context (${summary.contextSize.toLocaleString("en-US")} tokens): it will be read in windows, each margin seeing only its own window, the answer the last window and every kept margin. Narrowing the scope keeps it in one.` : "");
    const pick = await vscode.window.showWarningMessage("Ask codebase: read this much?", { modal: true, detail }, "Go", "Narrow Scope…");
    if (pick === "Go") return { go: true };
    if (pick !== "Narrow Scope…") return { go: false };
    const folders = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, canSelectMany: true, defaultUri: vscode.Uri.file(roots[0]!), openLabel: "Read these folders" });
    const inside = (folders ?? []).map((f) => f.fsPath).filter((p) => roots.some((r) => p === r || p.startsWith(r + sep)));
    return inside.length ? { go: false, narrowed: inside } : { go: false };
  }

  /** A finished run's speed, for the next estimate. */
  remember(done: Extract<WimEvent, { type: "done" }>): void {
    if (done.stoppedBy !== "finished" || done.timings.prefillMs <= 0 || !done.segmentsRead) return;
    void this.state.update(SPEED_KEY, {
      prefillTokensPerSecond: done.tokens.prefilled / (done.timings.prefillMs / 1000),
      marginSecondsPerSegment: done.timings.marginMs / 1000 / done.segmentsRead,
    } satisfies Speed);
  }
}
