// Git's precedence for ignore files: within one file the last matching pattern wins; across
// levels, the deepest file with any matching pattern decides; .git/info/exclude and the global
// excludes file come last. The `ignore` package implements one file's semantics exactly; the
// stacking across levels is ours.
import ignore, { type Ignore } from "ignore";

export interface RuleSet { readonly base: string; readonly matchers: readonly Ignore[] }

/** Matchers from one directory's ignore files, strongest first. */
export function ruleSet(base: string, sources: readonly string[]): RuleSet | undefined {
  const matchers = sources.filter((s) => s.trim() !== "").map((s) => ignore({ allowRelativePaths: true }).add(s));
  return matchers.length ? { base, matchers } : undefined;
}

export class IgnoreStack {
  /** `levels` run from the root down; `fallback` holds info/exclude and the global excludes. */
  constructor(private readonly levels: readonly RuleSet[], private readonly fallback: readonly Ignore[] = []) {}

  child(set: RuleSet | undefined): IgnoreStack {
    return set ? new IgnoreStack([...this.levels, set], this.fallback) : this;
  }

  /** `path` is relative to the walk's root; a directory's path ends with "/". */
  ignores(path: string): boolean {
    for (let i = this.levels.length - 1; i >= 0; i--) {
      const level = this.levels[i]!;
      const rel = level.base ? path.slice(level.base.length + 1) : path;
      for (const m of level.matchers) {
        const r = m.test(rel);
        if (r.ignored) return true;
        if (r.unignored) return false;
      }
    }
    for (const m of this.fallback) {
      const r = m.test(path);
      if (r.ignored) return true;
      if (r.unignored) return false;
    }
    return false;
  }
}

/** Caller globs in gitignore syntax ("src/**", "*.ts", "!keep.ts"). */
export function globMatcher(patterns: readonly string[]): ((path: string) => boolean) | undefined {
  if (!patterns.length) return undefined;
  const ig = ignore({ allowRelativePaths: true }).add([...patterns]);
  return (path) => ig.ignores(path);
}
