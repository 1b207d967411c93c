// The `askCodebase.*` settings as one typed object, read through the shared option table; a value
// a setting does not accept falls back to its default and is reported once in the log.
import * as vscode from "vscode";
import { editorFallbackEncoding, SECTION, settingsFrom, type Settings } from "../shared/settings";

export { SECTION };

export function readConfig(report?: (problem: string) => void): Settings {
  const c = vscode.workspace.getConfiguration(SECTION);
  const { settings, problems } = settingsFrom((name) => c.get(name));
  for (const p of problems) report?.(p);
  // Files VS Code is told to open in a legacy encoding are read in it too, unless this extension says otherwise.
  if (!settings.encoding) settings.encoding = editorFallbackEncoding(vscode.workspace.getConfiguration("files", vscode.workspace.workspaceFolders?.[0]?.uri).get("encoding"));
  return settings;
}
