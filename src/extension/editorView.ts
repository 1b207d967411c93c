// What VS Code shows of the workspace, for a question to read the same: the text of files changed
// and not saved (a question asked mid-edit is about the code on screen, and the lines its margins
// cite match the editor the user clicks into), and what files.exclude and search.exclude hide.
import * as vscode from "vscode";
import type { EditorView, UnsavedText } from "../shared/engineProtocol";
import type { ExcludeGlobs } from "../core/workspace/editorExcludes";
import { insideAny } from "./paths";

/** The editor's view of `roots`; `useExcludeSettings` false leaves VS Code's excludes out of it. */
export function editorView(roots: readonly string[], useExcludeSettings: boolean): EditorView {
  const unsaved = unsavedTexts(roots);
  const excludes = useExcludeSettings ? excludeSettings(roots) : [];
  return { ...(unsaved.length ? { unsaved } : {}), ...(excludes.length ? { excludes } : {}) };
}

/** Every file open with unsaved changes inside `roots` (untitled editors and notebooks' cells have no file to stand in for). */
function unsavedTexts(roots: readonly string[]): UnsavedText[] {
  return vscode.workspace.textDocuments
    .filter((d) => d.isDirty && d.uri.scheme === "file" && insideAny(roots, d.uri.fsPath))
    .map((d) => ({ path: d.uri.fsPath, text: d.getText() }));
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
