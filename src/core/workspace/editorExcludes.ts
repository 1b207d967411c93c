// What VS Code hides: `files.exclude` and `search.exclude`, in VS Code's own glob syntax, which is
// not gitignore's. A pattern is relative to its workspace folder (`*.log` matches at the top only,
// `**/*.log` anywhere), braces give alternatives, a matched folder takes everything in it, and a
// `when` clause excludes a file only beside a sibling (`{"**/*.js": {"when": "$(basename).ts"}}`).
// No vscode import: the extension reads the settings, this applies them.
import { access } from "node:fs/promises";
import { dirname, extname, isAbsolute, join, relative, sep } from "node:path";

/** One setting's patterns for one workspace folder, as VS Code stores them. */
export interface ExcludeGlobs {
  /** The workspace folder the patterns are relative to. */
  base: string;
  /** Which setting they come from, for the user to find them. */
  setting: string;
  patterns: Record<string, unknown>;
}

interface Rule { pattern: string; setting: string; test: (path: string) => boolean; absolute: boolean; when?: string }

/** Brace alternatives are expanded; past this many a pattern is taken as written. */
const MAX_EXPANSIONS = 256;

/** What hides a path: the pattern (and its setting), and the path it matched, the file or a folder above it. */
export interface Hidden { path: string; why: string }

/**
 * A matcher for the paths under `root`, relative to it with "/". `true` patterns and `when`
 * clauses hide; `false` only turns a default off in VS Code, so it hides nothing.
 */
export function excludeMatcher(sets: readonly ExcludeGlobs[], root: string): ((rel: string) => Promise<Hidden | undefined>) | undefined {
  const bases = sets.flatMap((s) => {
    const up = relative(s.base, root);
    if (up === ".." || up.startsWith(".." + sep) || isAbsolute(up)) return [];
    const rules = Object.entries(s.patterns).flatMap(([pattern, value]): Rule[] => {
      const when = typeof value === "object" && value !== null && typeof (value as { when?: unknown }).when === "string" ? (value as { when: string }).when : undefined;
      if (value !== true && when === undefined) return [];
      const absolute = pattern.startsWith("/") || /^[A-Za-z]:[\\/]/.test(pattern);
      return [{ pattern, setting: s.setting, test: globTest(absolute ? pattern.replace(/\\/g, "/") : pattern), absolute, ...(when !== undefined ? { when } : {}) }];
    });
    return rules.length ? [{ prefix: up ? up.split(sep).join("/") + "/" : "", base: s.base, rules }] : [];
  });
  if (!bases.length) return undefined;
  // What a path is matched as: relative to its workspace folder, or whole for an absolute pattern.
  const subject = (b: (typeof bases)[number], r: Rule, rel: string): string => (r.absolute ? join(b.base, ...(b.prefix + rel).split("/")).split(sep).join("/") : b.prefix + rel);
  const byPath = (rel: string): Hidden | undefined => {
    for (const b of bases) {
      const hit = b.rules.find((r) => r.when === undefined && r.test(subject(b, r, rel)));
      if (hit) return { path: rel, why: `${hit.setting} ${hit.pattern}` };
    }
    return undefined;
  };
  const folders = new Map<string, Hidden | undefined>();
  const folderHidden = (dir: string): Hidden | undefined => {
    if (!dir) return undefined;
    if (!folders.has(dir)) folders.set(dir, folderHidden(dir.includes("/") ? dir.slice(0, dir.lastIndexOf("/")) : "") ?? byPath(dir));
    return folders.get(dir);
  };
  return async (rel) => {
    const hidden = folderHidden(rel.includes("/") ? rel.slice(0, rel.lastIndexOf("/")) : "") ?? byPath(rel);
    if (hidden) return hidden;
    // A `when` clause hides a file only beside its sibling, as VS Code's explorer does.
    const name = rel.slice(rel.lastIndexOf("/") + 1);
    for (const b of bases) {
      for (const r of b.rules) {
        if (r.when === undefined || !r.test(subject(b, r, rel))) continue;
        const sibling = r.when.replace(/\$\(basename\)/g, name.slice(0, name.length - extname(name).length));
        if (await access(join(root, dirname(rel), sibling)).then(() => true, () => false)) return { path: rel, why: `${r.setting} ${r.pattern} (beside ${sibling})` };
      }
    }
    return undefined;
  };
}

/**
 * A VS Code glob as a test of a whole "/"-separated path; case-insensitive where VS Code's matching
 * is (Windows and macOS). Matched without regular expressions: a workspace's settings could hold
 * `*a*a*a*a*b`, which a backtracking engine takes years over on one long name.
 */
export function globTest(glob: string, ignoreCase = process.platform === "win32" || process.platform === "darwin"): (path: string) => boolean {
  const fold = (text: string): string => (ignoreCase ? text.toLowerCase() : text);
  const alternatives = expandBraces(fold(glob)).map((g) => {
    const parts = g.split("/").map((part): Part => (part === "**" ? "**" : pieces(part)));
    return { parts, ending: literalEnding(parts.at(-1)!) };
  });
  return (path) => {
    const folded = fold(path);
    // Most paths fail on how they end (`**/node_modules`, `**/*.log`): told without splitting them.
    const left = alternatives.filter((a) => folded.endsWith(a.ending));
    if (!left.length) return false;
    const names = folded.split("/").map((name) => [...name]);
    return left.some((a) => matchParts(a.parts, names));
  };
}

/** The text every match ends with: the last part's characters after its last wildcard. */
function literalEnding(part: Part): string {
  if (part === "**") return "";
  let out = "";
  for (let i = part.length - 1; i >= 0; i--) {
    const piece = part[i]!;
    if (piece.kind !== "char") break;
    out = piece.c + out;
  }
  return out;
}

type Piece = { kind: "char"; c: string } | { kind: "one" } | { kind: "star" } | { kind: "class"; negated: boolean; ranges: [string, string][] };
type Part = "**" | Piece[];

/** Whether the pattern's parts match every name: `**` takes any number of names, none included. */
function matchParts(parts: readonly Part[], names: readonly string[][]): boolean {
  // matched[j]: the parts so far match the first j names.
  let matched = names.map(() => false).concat(false);
  matched[0] = true;
  for (const part of parts) {
    const next = matched.map(() => false);
    let any = false;
    for (let j = 0; j <= names.length; j++) {
      if (part === "**") next[j] = any ||= matched[j]!;
      else if (j > 0 && matched[j - 1] && matchName(part, names[j - 1]!)) next[j] = true;
    }
    matched = next;
  }
  return matched[names.length]!;
}

/** One name against one part, in time proportional to their lengths' product (a star resumes from the last one). */
function matchName(part: readonly Piece[], name: readonly string[]): boolean {
  let p = 0;
  let i = 0;
  let star = -1;
  let resume = 0;
  while (i < name.length) {
    const piece = part[p];
    if (piece && piece.kind === "star") {
      star = p++;
      resume = i;
    } else if (piece && matchChar(piece, name[i]!)) {
      p++;
      i++;
    } else if (star >= 0) {
      p = star + 1;
      i = ++resume;
    } else {
      return false;
    }
  }
  while (part[p]?.kind === "star") p++;
  return p === part.length;
}

function matchChar(piece: Exclude<Piece, { kind: "star" }>, c: string): boolean {
  switch (piece.kind) {
    case "char": return piece.c === c;
    case "one": return true;
    case "class": return piece.ranges.some(([lo, hi]) => lo <= c && c <= hi) !== piece.negated;
  }
}

function pieces(part: string): Piece[] {
  const chars = [...part];
  const out: Piece[] = [];
  for (let i = 0; i < chars.length; i++) {
    const c = chars[i]!;
    if (c === "*") {
      if (out.at(-1)?.kind !== "star") out.push({ kind: "star" });
    } else if (c === "?") {
      out.push({ kind: "one" });
    } else if (c === "[" && chars.indexOf("]", i + 2) > 0) {
      const close = chars.indexOf("]", i + 2);
      let body = chars.slice(i + 1, close);
      const negated = body[0] === "!" || body[0] === "^";
      if (negated) body = body.slice(1);
      const ranges: [string, string][] = [];
      for (let k = 0; k < body.length; k++) {
        if (body[k + 1] === "-" && k + 2 < body.length) { ranges.push([body[k]!, body[k + 2]!]); k += 2; }
        else ranges.push([body[k]!, body[k]!]);
      }
      out.push({ kind: "class", negated, ranges });
      i = close;
    } else {
      out.push({ kind: "char", c });
    }
  }
  return out;
}

/** `a/{b,c/**}/d` as its alternatives; nested braces expand too. */
function expandBraces(glob: string): string[] {
  const open = glob.indexOf("{");
  if (open < 0) return [glob];
  let depth = 0;
  const commas: number[] = [];
  let close = -1;
  for (let i = open; i < glob.length; i++) {
    const c = glob[i];
    if (c === "{") depth++;
    else if (c === "}" && --depth === 0) { close = i; break; }
    else if (c === "," && depth === 1) commas.push(i);
  }
  if (close < 0) return [glob];
  const cuts = [open, ...commas, close];
  const head = glob.slice(0, open);
  const tails = expandBraces(glob.slice(close + 1));
  const out: string[] = [];
  for (let k = 0; k + 1 < cuts.length; k++) {
    for (const middle of expandBraces(glob.slice(cuts[k]! + 1, cuts[k + 1]!))) {
      for (const tail of tails) {
        if (out.length >= MAX_EXPANSIONS) return out;
        out.push(head + middle + tail);
      }
    }
  }
  return out;
}
