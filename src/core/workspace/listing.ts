// Which paths a folder offers to read, and who said so: git (`git ls-files`, the definition the
// reader promises), the built-in reader (git missing or failing, in a repository: it says once what
// it cannot see), or a plain walk (a folder in no repository, or ignore rules turned off).
// Submodules and repositories inside are listed the same way, each under its own rules.
import { lstat } from "node:fs/promises";
import { join } from "node:path";
import { attributesOf, attributesOutside, isAttributesFile, type FileAttributes } from "./gitAttributes";
import { gitListing } from "./gitListing";
import { findRepository, repositoryRules } from "./repository";
import { folderAbove, isVcsFolder, untrackedToolFolders, vcsFolderOf } from "./toolFolders";
import { walkFolder, type Walked } from "./walk";

export type ListingSource = "git" | "builtin" | "walk";

/** How one folder was listed: by whom, and what the listing could not see. */
export interface ListingInfo { folder: string; source: ListingSource; note?: string }

export interface ListOptions {
  respectGitignore: boolean;
  /** Read submodules and repositories inside (each under its own rules); false skips them. */
  submodules: boolean;
  signal?: AbortSignal;
  concurrency?: number;
}

export interface Listed {
  /** Paths relative to the folder. */
  paths: string[];
  /** Paths not listed for reading, with why: repositories left out, folders tools made, folders that could not be listed. */
  left: { path: string; reason: "nested-repository" | "tool-folder" | "unreadable"; detail?: string }[];
  infos: ListingInfo[];
  /** What .gitattributes say of listed paths that bear on reading (git listings only). */
  attributes: Map<string, FileAttributes>;
}

export async function listFolder(folder: string, options: ListOptions): Promise<Listed> {
  if (!options.respectGitignore) {
    const walked = await walkFolder(folder, { respectGit: false }, options);
    return { paths: walked.paths, left: leftOf(walked), infos: [{ folder, source: "walk", note: "ignore rules are off" }], attributes: new Map() };
  }
  // The repository holding the folder, found on disk beside git's listing: for the attributes
  // files git will not list, and for the built-in reader if git does not answer.
  const [git, repo] = await Promise.all([gitListing(folder, options.signal), findRepository(folder)]);
  if ("entries" in git) {
    const out: Listed = { paths: [], left: [], infos: [{ folder, source: "git" }], attributes: new Map() };
    const inner: string[] = [];
    const vcs = new Map<string, string>();
    // A .gitignore that forgot node_modules or .venv: what tools made is left out, as in no repository.
    const tools = await untrackedToolFolders(folder, git.entries.filter((e) => e.untracked).map((e) => e.path), git.entries.filter((e) => !e.untracked).map((e) => e.path));
    for (const e of git.entries) {
      // A git repository made inside another version control's working copy lists its metadata as untracked.
      const other = vcsFolderOf(e.path);
      if (other) vcs.set(other.path, other.detail);
      else if (!(e.untracked && folderAbove(tools, e.path))) (e.kind === "file" ? out.paths : inner).push(e.path);
    }
    for (const [path, detail] of vcs) out.left.push({ path, reason: "tool-folder", detail });
    for (const [path, detail] of tools) out.left.push({ path, reason: "tool-folder", detail: forgotten(detail) });
    const attributes = await attributesOf(folder, out.paths, await attributesOutside(repo), options.signal);
    if (attributes) out.attributes = attributes;
    else out.infos[0]!.note = "git check-attr failed: .gitattributes are not applied";
    await addInner(folder, inner, options, out);
    return out;
  }
  const rules = repo && "unavailable" in git ? await repositoryRules(repo) : undefined;
  // In no repository there is no project's .gitignore to leave out what tools made.
  // In a repository too: the project's .gitignore may have forgotten them (tracked files inside are read).
  const walked = await walkFolder(folder, { respectGit: true, leaveOutToolFolders: true, ...rules }, options);
  // Without git, what .gitattributes say is not known: said where there are some.
  const notes = [...(rules?.notes ?? []), ...(walked.paths.some(isAttributesFile) ? [".gitattributes are not applied"] : [])];
  const out: Listed = {
    paths: walked.paths,
    left: leftOf(walked, rules !== undefined),
    infos: [rules && "unavailable" in git
      ? { folder, source: "builtin", note: `${git.unavailable}: the built-in reader is used${notes.length ? `; ${notes.join("; ")}` : ""}` }
      : { folder, source: "walk" }],
    attributes: new Map(),
  };
  await addInner(folder, walked.repositories, options, out);
  return out;
}

/** `inRepository`: a tool's folder was left out that the repository's ignore rules did not. */
function leftOf(walked: Walked, inRepository = false): Listed["left"] {
  return [
    ...walked.unreadable.map((u) => ({ path: u.path, reason: "unreadable" as const, detail: u.detail })),
    ...walked.toolFolders.map((t) => ({ path: t.path, reason: "tool-folder" as const, detail: inRepository && !isVcsFolder(t.path) ? forgotten(t.detail) : t.detail })),
  ];
}

/** What a tool folder the repository's ignore rules forgot is, and the lasting fix. */
function forgotten(detail: string): string {
  return `${detail}, neither tracked nor ignored (add it to .gitignore)`;
}

/** Submodules and repositories inside `folder`: listed in turn under their own rules, or left out. */
async function addInner(folder: string, inner: readonly string[], options: ListOptions, out: Listed): Promise<void> {
  for (const rel of inner) {
    const abs = join(folder, ...rel.split("/"));
    const checkedOut = await lstat(join(abs, ".git")).then(() => true, () => false);
    if (!options.submodules || !checkedOut) {
      out.left.push({ path: rel, reason: "nested-repository", detail: checkedOut ? "submodules are not read (askCodebase.submodules)" : "not checked out" });
      continue;
    }
    const listed = await listFolder(abs, options);
    out.paths.push(...listed.paths.map((p) => `${rel}/${p}`));
    for (const [p, a] of listed.attributes) out.attributes.set(`${rel}/${p}`, a);
    out.left.push(...listed.left.map((l) => ({ ...l, path: `${rel}/${l.path}` })));
    out.infos.push(...listed.infos);
  }
}

/** Who listed the files, in a line: "git ls-files", or the built-in reader and what it could not see. */
export function describeListings(infos: readonly ListingInfo[]): string {
  const parts: string[] = [];
  const sources = new Set(infos.map((i) => i.source));
  if (sources.has("git")) {
    const noted = infos.find((i) => i.source === "git" && i.note);
    parts.push(noted ? `git ls-files (${noted.note})` : "git ls-files");
  }
  if (sources.has("walk")) parts.push(infos.some((i) => i.source === "walk" && i.note) ? "a walk of every file (ignore rules off)" : "a walk (no repository)");
  const builtin = infos.find((i) => i.source === "builtin");
  if (builtin) parts.push(`the built-in reader (${builtin.note})`);
  return parts.join(" and ") || "nothing";
}
