// Opens what a run read, with the lines selected; anything else is refused, whatever the view asks.
import * as vscode from "vscode";
import { absolutePath } from "./paths";
import type { RunStore } from "./runStore";

export async function openSource(store: RunStore, path: string, startLine: number, endLine: number): Promise<boolean> {
  const run = store.current;
  if (!run) return false;
  const known = run.events.some((e) => e.type === "margin-done" && e.sources.some((s) => s.path === path));
  const abs = known ? absolutePath(run.roots, path) : undefined;
  if (!abs) return false;
  const document = await vscode.workspace.openTextDocument(vscode.Uri.file(abs));
  const last = Math.min(Math.max(startLine, endLine), document.lineCount) - 1;
  const first = Math.min(Math.max(1, startLine), document.lineCount) - 1;
  const selection = new vscode.Selection(first, 0, last, document.lineAt(last).text.length);
  await vscode.window.showTextDocument(document, { selection, preview: true });
  return true;
}
