// Jupyter notebooks read as their cells. A notebook's file is JSON: every source line a quoted
// string, and its outputs (images in base64, tables in HTML, long logs) often most of its bytes,
// so read as it is the model would spend its context on escapes and outputs, and one past the
// size cap would be skipped, code and all. Its cells instead become one text in the "percent"
// format (jupytext's, and VS Code's Python interactive window's): a `# %%` line opens each cell,
// markdown cells are commented out. Outputs are left out.

import { isDataPath } from "./fileKinds";

/** A notebook's raw file may be this large: its cells' text is held to the usual cap. */
export const NOTEBOOK_MAX_BYTES = 64 * 1024 * 1024;

export function isNotebookPath(path: string): boolean {
  return path.toLowerCase().endsWith(".ipynb");
}

/**
 * The most a file at `path` may hold on disk to be read: a notebook's outputs may make it far
 * larger than its cells, and of a large data file only the head is read, whatever its size.
 */
export function rawByteLimit(path: string, maxBytes: number): number {
  if (isDataPath(path)) return Infinity;
  return isNotebookPath(path) ? Math.max(maxBytes, NOTEBOOK_MAX_BYTES) : maxBytes;
}

interface Cell { cell_type?: unknown; source?: unknown }

/** The line comment of the notebook's language, for the cell markers and its markdown. */
function commentOf(language: string): string {
  const l = language.toLowerCase();
  if (/^(javascript|typescript|java|scala|kotlin|c|c\+\+|cpp|csharp|c#|f#|fsharp|go|rust|swift|dart|groovy)$/.test(l)) return "//";
  if (/^(sql|haskell|lua)$/.test(l)) return "--";
  if (/^(matlab|octave)$/.test(l)) return "%";
  return "#";
}

/** The cells' text in the percent format, and the cell each line belongs to; undefined if the JSON is not a notebook. */
export function notebookText(json: string): { text: string; cellOfLine: number[] } | undefined {
  let doc: { cells?: unknown; metadata?: { kernelspec?: { language?: unknown }; language_info?: { name?: unknown } } };
  try {
    doc = JSON.parse(json) as typeof doc;
  } catch {
    return undefined;
  }
  if (!doc || typeof doc !== "object" || !Array.isArray(doc.cells)) return undefined;
  const language = [doc.metadata?.kernelspec?.language, doc.metadata?.language_info?.name].find((v): v is string => typeof v === "string") ?? "python";
  const comment = commentOf(language);
  const lines: string[] = [];
  const cellOfLine: number[] = [];
  (doc.cells as Cell[]).forEach((cell, index) => {
    const kind = typeof cell?.cell_type === "string" ? cell.cell_type : "code";
    const source = Array.isArray(cell?.source) ? cell.source.filter((s): s is string => typeof s === "string").join("") : typeof cell?.source === "string" ? cell.source : "";
    const body = source.replace(/\r\n?/g, "\n").replace(/\n$/, "").split("\n");
    const marker = `${comment} %%${kind === "code" ? "" : ` [${kind}]`}`;
    for (const line of [marker, ...(kind === "code" ? body : body.map((b) => (b ? `${comment} ${b}` : comment))), ""]) {
      lines.push(line);
      cellOfLine.push(index);
    }
  });
  return { text: lines.join("\n"), cellOfLine };
}
