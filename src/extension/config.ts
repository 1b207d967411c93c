// The `askCodebase.*` settings as one typed object, read through the shared option table; a value
// a setting does not accept falls back to its default and is reported once in the log.
import * as vscode from "vscode";
import { SECTION, settingsFrom, type Settings } from "../shared/settings";

export { SECTION };

export function readConfig(report?: (problem: string) => void): Settings {
  const c = vscode.workspace.getConfiguration(SECTION);
  const { settings, problems } = settingsFrom((name) => c.get(name));
  for (const p of problems) report?.(p);
  return settings;
}
