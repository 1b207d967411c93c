// Before a large read: the plan's files, tokens, windows and a time range (the engine's estimate,
// from this machine's last runs or the model's size), the order it reads in, and the choice to
// go, narrow the scope, or back out.
import { sep } from "node:path";
import * as vscode from "vscode";
import { describeEstimate, describeOrder, readNotes } from "../shared/describe";
import type { PlanSummary } from "../shared/engineProtocol";

export type Decision = { go: true } | { go: false; narrowed?: string[] };

/** Asks only when the plan is larger than `aboveTokens` or than the model's context. */
export async function confirmPlan(summary: PlanSummary, aboveTokens: number, roots: string[]): Promise<Decision> {
  const tooLarge = summary.contextSize > 0 && summary.tokens > summary.contextSize;
  if (summary.tokens <= aboveTokens && !tooLarge) return { go: true };
  const decoded = readNotes(summary).join("; ");
  const detail = `${summary.files.toLocaleString("en-US")} files, ${summary.tokens.toLocaleString("en-US")} tokens in ${summary.segments} segments: ` +
    `${summary.estimate ? describeEstimate(summary.estimate) : "time unknown"}.` +
    (summary.skipped ? ` ${summary.skipped} files skipped.` : "") + (decoded ? ` ${decoded.charAt(0).toUpperCase()}${decoded.slice(1)}.` : "") + ` Listed by ${summary.listing}; ${describeOrder(summary.order)}.` +
    (tooLarge ? ` This is more than the model's context (${summary.contextSize.toLocaleString("en-US")} tokens): each margin sees only its own window, the answer the last window and every kept margin. "Answer now" answers from what has been read; narrowing the scope reads less.` : "");
  const pick = await vscode.window.showWarningMessage("Ask codebase: read this much?", { modal: true, detail }, "Go", "Narrow Scope…");
  if (pick === "Go") return { go: true };
  if (pick !== "Narrow Scope…") return { go: false };
  const folders = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, canSelectMany: true, defaultUri: vscode.Uri.file(roots[0]!), openLabel: "Read these folders" });
  const inside = (folders ?? []).map((f) => f.fsPath).filter((p) => roots.some((r) => p === r || p.startsWith(r + sep)));
  return inside.length ? { go: false, narrowed: inside } : { go: false };
}
