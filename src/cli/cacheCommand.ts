// `ask-codebase cache [--clear]`: what the warm codebase cache holds, and emptying it.
import { parseArgs } from "node:util";
import { DiskStateCache, defaultStateCacheDirectory } from "../core/cache/stateCache";
import { settingsFromFlags, SettingError } from "../shared/settings";
import { UsageError } from "./args";
import { bytes } from "./format";

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
  const stats = await cache.stats();
  const line = `${stats.directory}: ${stats.entries} ${stats.entries === 1 ? "codebase" : "codebases"}, ${bytes(stats.bytes)} of ${bytes(stats.limitBytes)}`;
  if (values.clear) {
    await cache.clear();
    process.stdout.write(`cleared ${line}\n`);
  } else {
    process.stdout.write(line + "\n");
  }
}
