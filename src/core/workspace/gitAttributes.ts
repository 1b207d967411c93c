// What a repository's .gitattributes say about its files, as git reads them (`git check-attr`:
// every .gitattributes level, info/attributes, the user's attributes file, macros such as
// `binary`). Four attributes bear on reading: linguist-generated and linguist-vendored (GitHub's
// marks for generated and third-party code), -diff (git shows "Binary files differ"), and
// working-tree-encoding (the file's encoding, which git itself converts from).
import { existsSync } from "node:fs";
import { join } from "node:path";
import { runGit, split } from "./gitListing";
import { configuredFile, type Repository } from "./repository";

export interface FileAttributes { generated?: true; vendored?: true; binary?: true; encoding?: string }

const ASKED = ["linguist-generated", "linguist-vendored", "diff", "working-tree-encoding"];

export const isAttributesFile = (path: string): boolean => path === ".gitattributes" || path.endsWith("/.gitattributes");

/** True for "set" and "true"; linguist-generated=false, unset and unspecified are not marks. */
const isSet = (value: string): boolean => value === "set" || value === "true";

/**
 * The attributes of `paths` (relative to `folder`) that bear on reading, for the paths that have
 * any; undefined when git cannot say. Asked only when some attributes file exists (`outside`, or
 * a .gitattributes listed): with none, git would only spend its time saying "unspecified".
 */
export async function attributesOf(folder: string, paths: readonly string[], outside: boolean, signal?: AbortSignal): Promise<Map<string, FileAttributes> | undefined> {
  const out = new Map<string, FileAttributes>();
  if (!paths.length || !(outside || paths.some(isAttributesFile))) return out;
  const r = await runGit(folder, ["check-attr", "-z", "--stdin", ...ASKED], signal, Buffer.from(paths.join("\0") + "\0"));
  if (r.code !== 0) return undefined;
  const fields = split(r.stdout);
  for (let i = 0; i + 2 < fields.length; i += 3) {
    const [path, name, value] = [fields[i]!, fields[i + 1], fields[i + 2]!];
    let mark: FileAttributes | undefined;
    if (name === "linguist-generated" && isSet(value)) mark = { generated: true };
    else if (name === "linguist-vendored" && isSet(value)) mark = { vendored: true };
    else if (name === "diff" && value === "unset") mark = { binary: true };
    else if (name === "working-tree-encoding" && value !== "unspecified" && value !== "unset" && value !== "set") mark = { encoding: value };
    if (mark) out.set(path, { ...out.get(path), ...mark });
  }
  return out;
}

/**
 * Whether an attributes file the folder's listing does not show applies to it: a .gitattributes
 * in a folder above it (up to the work tree's root), the repository's info/attributes, or the
 * user's attributes file, for the repository holding the folder. Found on disk, as the built-in
 * reader finds the ignore rules: no git process for a repository that has none.
 */
export async function attributesOutside(repo: Repository | undefined): Promise<boolean> {
  if (!repo) return false;
  if (existsSync(join(repo.commonDir, "info", "attributes"))) return true;
  const parts = repo.prefix ? repo.prefix.split("/") : [];
  for (let i = 0; i < parts.length; i++) if (existsSync(join(repo.workTree, ...parts.slice(0, i), ".gitattributes"))) return true;
  return existsSync(await configuredFile(repo, "attributesfile", "attributes"));
}
