// What a folder's own VS Code settings hide, for the CLI: `files.exclude` and `search.exclude` in
// the nearest `.vscode/settings.json` at or above the folder (no higher than its repository's top),
// so that `ask-codebase ask DIR` reads what the extension would read in a window opened there; and
// the `files.encoding` that window would open legacy files in.
// The file is JSON with comments and trailing commas, as VS Code writes and reads it.
// VS Code's own defaults for both settings (version control folders, OS litter, node_modules) are
// not added: the reader leaves those out by its own rules.
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { dirname, join, resolve } from "node:path";
import type { ExcludeGlobs } from "./editorExcludes";

export interface FolderExcludes {
  excludes: ExcludeGlobs[];
  /** The folder the settings are for (the one holding `.vscode`), and its `files.encoding` as written. */
  base?: string;
  filesEncoding?: unknown;
  /** The settings file read, when there is one. */
  file?: string;
  /** Why the file's excludes are not applied (it does not parse), for the user. */
  problem?: string;
}

const SETTINGS = ["files.exclude", "search.exclude"] as const;

/** The nearest `.vscode/settings.json` from `root` up to the repository's top (a folder holding `.git`) or the file system's. */
export function findFolderSettings(root: string): string | undefined {
  for (let dir = resolve(root); ; dir = dirname(dir)) {
    const file = join(dir, ".vscode", "settings.json");
    if (existsSync(file)) return file;
    if (existsSync(join(dir, ".git")) || dirname(dir) === dir) return undefined;
  }
}

export async function folderExcludes(root: string): Promise<FolderExcludes> {
  const file = findFolderSettings(root);
  if (!file) return { excludes: [] };
  let settings: unknown;
  try {
    settings = JSON.parse(withoutComments(await readFile(file, "utf8")));
  } catch (err) {
    return { excludes: [], file, problem: `${file} could not be read as settings (${(err as Error).message}): its files.exclude, search.exclude and files.encoding are not applied` };
  }
  if (typeof settings !== "object" || settings === null || Array.isArray(settings)) return { excludes: [], file, problem: `${file} does not hold an object of settings: its files.exclude, search.exclude and files.encoding are not applied` };
  const base = dirname(dirname(file));
  const excludes = SETTINGS.flatMap((setting) => {
    const patterns = (settings as Record<string, unknown>)[setting];
    return typeof patterns === "object" && patterns !== null && !Array.isArray(patterns) && Object.keys(patterns).length
      ? [{ base, setting, patterns: patterns as Record<string, unknown> }]
      : [];
  });
  const filesEncoding = (settings as Record<string, unknown>)["files.encoding"];
  return { excludes, file, base, ...(filesEncoding !== undefined ? { filesEncoding } : {}) };
}

/** JSON with `//` and block comments and trailing commas made plain JSON; strings are left as they are. */
export function withoutComments(text: string): string {
  const comments = scan(text, (t, i) => {
    if (t.startsWith("//", i)) {
      const end = t.indexOf("\n", i);
      return { skip: (end === -1 ? t.length : end) - i, put: "" };
    }
    if (t.startsWith("/*", i)) {
      const end = t.indexOf("*/", i + 2);
      return { skip: (end === -1 ? t.length : end + 2) - i, put: " " };
    }
    return undefined;
  });
  return scan(comments, (t, i) => {
    if (t[i] !== ",") return undefined;
    let j = i + 1;
    while (j < t.length && /\s/.test(t[j]!)) j++;
    return t[j] === "}" || t[j] === "]" ? { skip: 1, put: "" } : undefined;
  });
}

/** Copies `text`, strings whole; elsewhere, where `at` matches, skips that many characters and puts text in their place. */
function scan(text: string, at: (text: string, i: number) => { skip: number; put: string } | undefined): string {
  let out = "";
  for (let i = 0; i < text.length;) {
    if (text[i] === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      out += text.slice(i, j + 1);
      i = j + 1;
      continue;
    }
    const hit = at(text, i);
    if (hit) {
      out += hit.put;
      i += hit.skip;
    } else {
      out += text[i++];
    }
  }
  return out;
}
