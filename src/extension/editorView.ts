// What VS Code shows of the workspace, for a question to read the same: the text of files changed
// and not saved (a question asked mid-edit is about the code on screen, and the lines its margins
// cite match the editor the user clicks into), and what files.exclude and search.exclude hide.
import * as vscode from "vscode";
import type { EditorView, UnsavedText } from "../shared/engineProtocol";
import type { ExcludeGlobs } from "../core/workspace/editorExcludes";
import type { FolderEncoding } from "../core/workspace/reader";
import { editorFallbackEncoding } from "../shared/settings";
import { isNotebookPath } from "../core/workspace/notebook";
import { insideAny } from "./paths";

/** The editor's view of `roots`; `useExcludeSettings` false leaves VS Code's excludes out of it. */
export function editorView(roots: readonly string[], useExcludeSettings: boolean): EditorView {
  const unsaved = unsavedTexts(roots);
  const excludes = useExcludeSettings ? excludeSettings(roots) : [];
  const encodings = folderEncodings(roots);
  return { ...(unsaved.length ? { unsaved } : {}), ...(excludes.length ? { excludes } : {}), ...(encodings.length ? { encodings } : {}) };
}

/**
 * The legacy encoding each workspace folder holding a root opens files in (its `files.encoding`),
 * for files that are neither UTF-8 nor UTF-16: a file VS Code shows in Shift-JIS is read in it too.
 */
function folderEncodings(roots: readonly string[]): FolderEncoding[] {
  return holdingFolders(roots).flatMap((f) => {
    const encoding = editorFallbackEncoding(vscode.workspace.getConfiguration("files", f.uri).get("encoding"));
    return encoding ? [{ base: f.uri.fsPath, encoding }] : [];
  });
}

/** The workspace folders holding a root. */
function holdingFolders(roots: readonly string[]): readonly vscode.WorkspaceFolder[] {
  return (vscode.workspace.workspaceFolders ?? []).filter((f) => roots.some((r) => insideAny([f.uri.fsPath], r)));
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
  return holdingFolders(roots).flatMap((f) => (["files", "search"] as const).map((section) => ({
    base: f.uri.fsPath,
    setting: `${section}.exclude`,
    patterns: vscode.workspace.getConfiguration(section, f.uri).get<Record<string, unknown>>("exclude") ?? {},
  })));
}
