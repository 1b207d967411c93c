// The CLI's stand-in for the editor's view (extension/editorView.ts): what the folder's own VS Code
// settings hide, and the legacy encoding they open files in (core/workspace/folderSettings.ts),
// said once, so that a question asked here reads what the extension would read in a window opened
// on the folder.
import { folderExcludes } from "../core/workspace/folderSettings";
import type { EditorView } from "../shared/engineProtocol";
import { editorFallbackEncoding } from "../shared/settings";

export async function folderView(root: string, useExcludeSettings: boolean, note: (line: string) => void): Promise<EditorView | undefined> {
  const found = await folderExcludes(root);
  if (found.problem) note(`warning: ${found.problem}`);
  const encoding = found.base ? editorFallbackEncoding(found.filesEncoding) : "";
  const excludes = useExcludeSettings ? found.excludes : [];
  if (excludes.length) note(`leaving out what ${excludes.map((e) => e.setting).join(" and ")} hide in ${found.file} (--no-exclude-settings reads it all)`);
  if (!excludes.length && !encoding) return undefined;
  return { ...(excludes.length ? { excludes } : {}), ...(encoding ? { encodings: [{ base: found.base!, encoding }] } : {}) };
}
