// What VS Code shows of the workspace, for a question to read the same: the text of files changed
// and not saved (a question asked mid-edit is about the code on screen, and the lines its margins
// cite match the editor the user clicks into), and what files.exclude and search.exclude hide.
import * as vscode from "vscode";
import type { EditorView, UnsavedText } from "../shared/engineProtocol";
import type { ExcludeGlobs } from "../core/workspace/editorExcludes";
import { isNotebookPath } from "../core/workspace/notebook";
import { insideAny } from "./paths";

/** The editor's view of `roots`; `useExcludeSettings` false leaves VS Code's excludes out of it. */
export function editorView(roots: readonly string[], useExcludeSettings: boolean): EditorView {
  const unsaved = unsavedTexts(roots);
  const excludes = useExcludeSettings ? excludeSettings(roots) : [];
  return { ...(unsaved.length ? { unsaved } : {}), ...(excludes.length ? { excludes } : {}) };
}

/**
 * Every file open with unsaved changes inside `roots`: text files as their editors hold them, and
 * Jupyter notebooks as the JSON of their cells (untitled editors have no file to stand in for).
 */
function unsavedTexts(roots: readonly string[]): UnsavedText[] {
  const onDisk = (uri: vscode.Uri): boolean => uri.scheme === "file" && insideAny(roots, uri.fsPath);
  return [
    ...vscode.workspace.textDocuments.filter((d) => d.isDirty && onDisk(d.uri)).map((d) => ({ path: d.uri.fsPath, text: d.getText() })),
    ...vscode.workspace.notebookDocuments.filter((n) => n.isDirty && onDisk(n.uri) && isNotebookPath(n.uri.fsPath)).map((n) => ({ path: n.uri.fsPath, text: notebookJson(n) })),
  ];
}

/**
 * A notebook as the JSON its file would hold, cells and language and no outputs: the reader turns
 * it into the cells' text, and a source's lines map back to the cells the run read.
 */
export function notebookJson(notebook: vscode.NotebookDocument): string {
  const cells = notebook.getCells();
  const language = cells.find((c) => c.kind === vscode.NotebookCellKind.Code)?.document.languageId ?? "python";
  return JSON.stringify({
    nbformat: 4, nbformat_minor: 5, metadata: { kernelspec: { language } },
    cells: cells.map((c) => ({ cell_type: c.kind === vscode.NotebookCellKind.Markup ? "markdown" : "code", metadata: {}, source: c.document.getText() })),
  });
}

/** files.exclude and search.exclude of each workspace folder holding a root, as that folder's settings give them. */
function excludeSettings(roots: readonly string[]): ExcludeGlobs[] {
  const folders = (vscode.workspace.workspaceFolders ?? []).filter((f) => roots.some((r) => insideAny([f.uri.fsPath], r)));
  return folders.flatMap((f) => (["files", "search"] as const).map((section) => ({
    base: f.uri.fsPath,
    setting: `${section}.exclude`,
    patterns: vscode.workspace.getConfiguration(section, f.uri).get<Record<string, unknown>>("exclude") ?? {},
  })));
}
