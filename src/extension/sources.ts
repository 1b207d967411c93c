// Opens what a run read, with the lines selected; anything else is refused, whatever the view asks.
import * as vscode from "vscode";
import { selectedLines } from "../shared/lines";
import { absolutePath } from "./paths";
import type { RunStore } from "./runStore";

export async function openSource(store: RunStore, path: string, startLine: number, endLine: number): Promise<boolean> {
  const run = store.current;
  if (!run) return false;
  const known = run.events.some((e) => e.type === "margin-done" && e.sources.some((s) => s.path === path));
  const abs = known ? absolutePath(run.roots, path) : undefined;
  if (!abs) return false;
  let document: vscode.TextDocument;
  try {
    document = await vscode.workspace.openTextDocument(vscode.Uri.file(abs));
  } catch (err) {
    // Deleted, moved or made unreadable since the run read it.
    void vscode.window.showWarningMessage(`Ask codebase: ${path} cannot be opened (${(err as Error).message}); it may have changed since it was read.`);
    return false;
  }
  const { first, last } = selectedLines(startLine, endLine, document.lineCount);
  const selection = new vscode.Selection(first, 0, last, document.lineAt(last).text.length);
  await vscode.window.showTextDocument(document, { selection, preview: true });
  return true;
}
