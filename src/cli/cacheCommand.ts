// `ask-codebase cache [--clear]`: what the warm codebase cache holds, and emptying it of its own
// files only (a folder that is not a cache is refused).
import { parseArgs } from "node:util";
import { NotACacheError } from "../core/cache/cacheFolder";
import { DiskStateCache, defaultStateCacheDirectory } from "../core/cache/stateCache";
import { settingsFromFlags, SettingError } from "../shared/settings";
import { UsageError } from "./args";
import { formatBytes } from "../core/bytes";

const CACHE_OPTIONS = {
  "cache-dir": { type: "string" },
  "cache-mib": { type: "string" },
} as const;

/** The cache the flags name; undefined when --cache-mib 0 turns it off. */
function cacheOf(values: { "cache-dir"?: string; "cache-mib"?: string }): DiskStateCache | undefined {
  let mib: number;
  try {
    mib = settingsFromFlags(values).cacheSizeMiB;
  } catch (err) {
    throw err instanceof SettingError ? new UsageError(err.message) : err;
  }
  return mib ? new DiskStateCache(values["cache-dir"] ?? defaultStateCacheDirectory(), mib * 1048576) : undefined;
}

export async function cacheCommand(argv: string[]): Promise<void> {
  const { values } = parseArgs({ args: argv, options: { ...CACHE_OPTIONS, clear: { type: "boolean" } } });
  const cache = cacheOf(values) ?? new DiskStateCache(values["cache-dir"] ?? defaultStateCacheDirectory(), 0);
  if (values.clear) {
    let cleared;
    try {
      cleared = await cache.clear();
    } catch (err) {
      if (err instanceof NotACacheError) throw new UsageError(err.message);
      throw err;
    }
    const plural = (n: number, one: string): string => `${n} ${one}${n === 1 ? "" : "s"}`;
    process.stdout.write(`${cache.directory}: removed ${plural(cleared.entries, "codebase")} (${plural(cleared.files, "file")}, ${formatBytes(cleared.bytes)})` +
      (cleared.left ? `; left ${plural(cleared.left, "file")} the cache did not write` : "") + "\n");
    return;
  }
  const stats = await cache.stats();
  process.stdout.write(`${stats.directory}: ${stats.entries} ${stats.entries === 1 ? "codebase" : "codebases"}, ${formatBytes(stats.bytes)} of ${formatBytes(stats.limitBytes)}` +
    (stats.pendingFiles ? `; ${stats.pendingFiles} files of saves or loads under way (${formatBytes(stats.pendingBytes)})` : "") +
    (stats.foreignFiles ? `; ${stats.foreignFiles} files the cache did not write (left alone)` : "") + "\n");
}
