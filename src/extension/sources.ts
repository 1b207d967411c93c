// Opens what a run read, with the lines selected; anything else is refused, whatever the view asks.
import * as vscode from "vscode";
import { isNotebookPath, notebookText } from "../core/workspace/notebook";
import { selectedLines } from "../shared/lines";
import { notebookJson } from "./editorView";
import { absolutePath } from "./paths";
import type { RunStore } from "./runStore";

export async function openSource(store: RunStore, path: string, startLine: number, endLine: number): Promise<boolean> {
  const run = store.current;
  if (!run) return false;
  const known = run.events.some((e) => e.type === "margin-done" && e.sources.some((s) => s.path === path));
  const abs = known ? absolutePath(run.roots, path) : undefined;
  if (!abs) return false;
  if (isNotebookPath(path)) return openNotebookCell(path, abs, startLine);
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

/**
 * A notebook was read as its cells' text (core/workspace/notebook.ts), whose lines are not the
 * file's: it opens in the notebook editor with the cell those lines came from selected. The lines
 * are mapped through the notebook as VS Code holds it, unsaved cells included, as the run read it.
 */
async function openNotebookCell(path: string, abs: string, startLine: number): Promise<boolean> {
  const uri = vscode.Uri.file(abs);
  try {
    const notebook = await vscode.workspace.openNotebookDocument(uri);
    const cells = notebookText(notebookJson(notebook));
    const cell = cells?.cellOfLine[Math.max(0, startLine - 1)] ?? 0;
    const range = new vscode.NotebookRange(Math.min(cell, Math.max(0, notebook.cellCount - 1)), Math.min(cell + 1, notebook.cellCount));
    const editor = await vscode.window.showNotebookDocument(notebook, { selections: [range], preview: true });
    editor.revealRange(range, vscode.NotebookEditorRevealType.InCenterIfOutsideViewport);
    return true;
  } catch (err) {
    void vscode.window.showWarningMessage(`Ask codebase: ${path} cannot be opened (${(err as Error).message}); it may have changed since it was read.`);
    return false;
  }
}
