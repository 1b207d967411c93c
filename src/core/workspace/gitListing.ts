// The files of a folder as git lists them: `git ls-files --cached --others --exclude-standard`,
// run in the folder. That is the definition the reader promises, and git knows every layout and
// format there is: a folder deep inside a repository (the ignore rules above it, the repository's
// info/exclude and index), linked worktrees and submodule checkouts (`.git` a file), index
// versions 2-4, split and sparse indexes, SHA-256 repositories, core.excludesFile.
import { spawn } from "node:child_process";

/** A listed path, relative to the folder: a file (or a link), a submodule, or an untracked repository inside. */
export interface GitEntry { path: string; kind: "file" | "submodule" | "repository"; /** Listed by --others: not tracked, and no ignore rule matches it. */ untracked?: true }

export type GitListing =
  | { entries: GitEntry[] }
  /** The folder is in no repository: a plain walk is the right reading, with nothing to say. */
  | { notRepository: true }
  /** git is missing or failed: why, for the note the fallback gives. */
  | { unavailable: string };

const GITLINK = "160000";
/** Anything git could inherit that would point it at another repository or index than the folder's. */
const REPOSITORY_ENV = ["GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_COMMON_DIR", "GIT_OBJECT_DIRECTORY", "GIT_NAMESPACE", "GIT_PREFIX"];

/** Runs git in `cwd` with the repository's hooks and inherited repository settings out of reach; `input` goes to its stdin. */
export function runGit(cwd: string, args: string[], signal?: AbortSignal, input?: Buffer): Promise<{ code: number | null; stdout: Buffer; stderr: string; spawnError?: NodeJS.ErrnoException }> {
  return new Promise((resolve) => {
    const env: NodeJS.ProcessEnv = { ...process.env, GIT_OPTIONAL_LOCKS: "0" };
    for (const name of REPOSITORY_ENV) delete env[name];
    // A repository's own config can name a program for git to run as its fsmonitor hook (a cloned
    // repository cannot carry .git/config, but an unpacked archive or a shared disk can): reading a
    // workspace must never run it.
    const child = spawn("git", ["-C", cwd, "-c", "core.fsmonitor=false", ...args], { env, stdio: [input ? "pipe" : "ignore", "pipe", "pipe"], ...(signal ? { signal } : {}) });
    // git stops reading when it fails: what it did not take is of no interest.
    if (input) child.stdin!.on("error", () => undefined).end(input);
    const out: Buffer[] = [];
    let err = "";
    child.stdout!.on("data", (d: Buffer) => out.push(d));
    child.stderr!.on("data", (d: Buffer) => { err = (err + d.toString()).slice(-2000); });
    child.on("error", (e: NodeJS.ErrnoException) => resolve({ code: null, stdout: Buffer.alloc(0), stderr: err, spawnError: e }));
    child.on("close", (code) => resolve({ code, stdout: Buffer.concat(out), stderr: err }));
  });
}

/**
 * git's reason, from its "fatal:" line rather than its last (which may be a hint), with the fix
 * it gives for a repository another user owns (safe.directory).
 */
export function gitFailure(stderr: string, code: number | null): string {
  const lines = stderr.split("\n").map((l) => l.trim()).filter(Boolean);
  const fatal = lines.find((l) => /^(fatal|error):/i.test(l))?.replace(/^(fatal|error):\s*/i, "") ?? lines.at(-1) ?? `exit code ${code}`;
  const trust = lines.find((l) => l.startsWith("git config --global --add safe.directory"));
  return trust ? `${fatal} (git reads it after \`${trust}\`)` : fatal;
}

export const split = (out: Buffer): string[] => out.toString("utf8").split("\0").filter(Boolean);

export async function gitListing(folder: string, signal?: AbortSignal): Promise<GitListing> {
  // Two listings: the staged one tells submodules (mode 160000) apart, and its paths are never ambiguous.
  const [cached, others] = await Promise.all([
    runGit(folder, ["ls-files", "-z", "--cached", "--stage"], signal),
    runGit(folder, ["ls-files", "-z", "--others", "--exclude-standard"], signal),
  ]);
  signal?.throwIfAborted();
  for (const r of [cached, others]) {
    if (r.spawnError) return { unavailable: r.spawnError.code === "ENOENT" ? "git was not found on the PATH" : `git could not start (${r.spawnError.code})` };
    if (r.code !== 0) {
      if (/not a git repository/i.test(r.stderr)) return { notRepository: true };
      return { unavailable: `git ls-files failed: ${gitFailure(r.stderr, r.code)}` };
    }
  }
  const entries: GitEntry[] = [];
  const seen = new Set<string>();
  for (const line of split(cached.stdout)) {
    // "<mode> <object> <stage>\t<path>"; a conflicted path has stages 1-3: listed once.
    const tab = line.indexOf("\t");
    const path = line.slice(tab + 1);
    if (seen.has(path)) continue;
    seen.add(path);
    entries.push({ path, kind: line.startsWith(GITLINK + " ") ? "submodule" : "file" });
  }
  for (const path of split(others.stdout)) {
    // git shows an untracked repository inside as its directory, with a slash, and does not descend.
    if (path.endsWith("/")) entries.push({ path: path.slice(0, -1), kind: "repository", untracked: true });
    else if (!seen.has(path)) entries.push({ path, kind: "file", untracked: true });
  }
  return { entries };
}
