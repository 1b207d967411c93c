// Git's precedence for ignore files: within one file the last matching pattern wins; across
// levels, the deepest file with any matching pattern decides; .git/info/exclude and the global
// excludes file come last. The `ignore` package implements one file's semantics exactly; the
// stacking across levels is ours.
import ignore, { type Ignore } from "ignore";

/**
 * One directory's ignore rules. `base`: the directory, relative to the walk's root. `above`: for a
 * directory above the root (a .gitignore higher in the repository), the way from it down to the
 * root, prepended to every path it judges.
 */
export interface RuleSet { readonly base: string; readonly matchers: readonly Ignore[]; readonly above?: string }

/** Matchers from one directory's ignore files, strongest first. */
export function ruleSet(base: string, sources: readonly string[], above?: string): RuleSet | undefined {
  const matchers = sources.filter((s) => s.trim() !== "").map((s) => ignore({ allowRelativePaths: true }).add(s));
  return matchers.length ? { base, matchers, ...(above !== undefined ? { above } : {}) } : undefined;
}

export class IgnoreStack {
  /** `levels` run from the root down; `fallback` holds info/exclude and the global excludes. */
  constructor(private readonly levels: readonly RuleSet[], private readonly fallback: readonly RuleSet[] = []) {}

  child(set: RuleSet | undefined): IgnoreStack {
    return set ? new IgnoreStack([...this.levels, set], this.fallback) : this;
  }

  /** `path` is relative to the walk's root; a directory's path ends with "/". */
  ignores(path: string): boolean {
    for (let i = this.levels.length - 1; i >= 0; i--) {
      const verdict = judge(this.levels[i]!, path);
      if (verdict !== undefined) return verdict;
    }
    for (const set of this.fallback) {
      const verdict = judge(set, path);
      if (verdict !== undefined) return verdict;
    }
    return false;
  }
}

/** A rule set's say on a path (relative to the walk's root): ignored, re-included, or nothing. */
function judge(level: RuleSet, path: string): boolean | undefined {
  const rel = level.above !== undefined ? level.above + path : level.base ? path.slice(level.base.length + 1) : path;
  for (const m of level.matchers) {
    const r = m.test(rel);
    if (r.ignored) return true;
    if (r.unignored) return false;
  }
  return undefined;
}

/** Caller globs in gitignore syntax ("src/**", "*.ts", "!keep.ts"). */
export function globMatcher(patterns: readonly string[]): ((path: string) => boolean) | undefined {
  if (!patterns.length) return undefined;
  const ig = ignore({ allowRelativePaths: true }).add([...patterns]);
  return (path) => ig.ignores(path);
}
