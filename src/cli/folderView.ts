// The CLI's stand-in for the editor's view (extension/editorView.ts): what the folder's own VS Code
// settings hide (core/workspace/folderSettings.ts), said once, so that a question asked here reads
// what the extension would read in a window opened on the folder.
import { folderExcludes } from "../core/workspace/folderSettings";
import type { EditorView } from "../shared/engineProtocol";

export async function folderView(root: string, useExcludeSettings: boolean, note: (line: string) => void): Promise<EditorView | undefined> {
  if (!useExcludeSettings) return undefined;
  const found = await folderExcludes(root);
  if (found.problem) note(`warning: ${found.problem}`);
  if (!found.excludes.length) return undefined;
  note(`leaving out what ${found.excludes.map((e) => e.setting).join(" and ")} hide in ${found.file} (--no-exclude-settings reads it all)`);
  return { excludes: found.excludes };
}
