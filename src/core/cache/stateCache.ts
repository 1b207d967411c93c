// The warm codebase cache: the reader's KV state after reading a codebase, saved to disk so that
// the next question about the same (or a partly edited) codebase does not prefill it again.
// An entry is keyed by the engine's state key (model file, backend, KV settings) and by a hash
// chain over the exact tokens: chain[0] covers the opening, chain[k + 1] adds segment k. Two
// codebases share a prefix of k segments exactly when their chains agree up to chain[k].
// Each entry is two files, <id>.state and <id>.json (written last: its presence means complete);
// the .json file's mtime is the entry's last use, for least-recently-used eviction.
// llama.cpp aborts the whole process on some damaged state files (GGML_ASSERT while reading), so
// an entry is checked before it is loaded: its size must be the one recorded, and a load runs
// under a marker file naming the process; a marker left by a process that died marks the entry bad.
import { createHash } from "node:crypto";
import { mkdir, readdir, readFile, rename, rm, stat, utimes, writeFile } from "node:fs/promises";
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import type { Token, TokenList } from "../wim/engine";

export interface CacheHit {
  file: string;
  /** Leading segments whose tokens equal the entry's. */
  segments: number;
  /** Segments the entry holds. */
  entrySegments: number;
}

export interface CacheStats { entries: number; bytes: number; limitBytes: number; directory: string }

export interface StoreResult extends CacheStats {
  /** The new entry's size; 0 when it alone exceeded the limit and was not kept. */
  stored: number;
}

export interface CodebaseStateCache {
  /** The entry sharing the longest prefix (at least one segment) with `chain`, marked as just used. */
  find(stateKey: string, chain: readonly string[]): Promise<CacheHit | undefined>;
  /** Runs `load` on a hit's file under a marker: if the process dies inside it, the entry is dropped next time. */
  guardLoad<T>(file: string, load: () => Promise<T>): Promise<T>;
  /** Saves a state through `save` under `chain`, then evicts the least recently used entries over the limit. */
  store(stateKey: string, chain: readonly string[], save: (file: string) => Promise<void>): Promise<StoreResult>;
  stats(): Promise<CacheStats>;
  clear(): Promise<void>;
}

/** A state is a few hundred MiB for a small model and 32k tokens: room for a handful of codebases. */
export const DEFAULT_CACHE_MIB = 4096;

/** Where the CLI keeps its cache (the extension uses its own storage folder). */
export function defaultStateCacheDirectory(): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "ask-codebase", "kv");
}

/** The hash chain over the opening tokens and each segment's tokens. */
export function tokenChain(opening: readonly Token[], segments: readonly TokenList[]): string[] {
  const hash = (previous: string, tokens: TokenList): string =>
    createHash("sha256").update(previous).update(Buffer.from(Int32Array.from(tokens).buffer)).digest("hex");
  const chain = [hash("", opening)];
  for (const s of segments) chain.push(hash(chain[chain.length - 1]!, s));
  return chain;
}

interface EntryMeta { stateKey: string; chain: string[]; bytes: number }
interface Entry extends EntryMeta { id: string; usedMs: number }

export class DiskStateCache implements CodebaseStateCache {
  constructor(readonly directory: string, readonly limitBytes: number) {}

  private async entries(): Promise<Entry[]> {
    let names: string[];
    try {
      names = await readdir(this.directory);
    } catch {
      return [];
    }
    const out: Entry[] = [];
    for (const name of names.filter((n) => n.endsWith(".json"))) {
      const id = name.slice(0, -5);
      let meta: EntryMeta;
      let usedMs: number;
      try {
        const metaPath = join(this.directory, name);
        const [text, info] = await Promise.all([readFile(metaPath, "utf8"), stat(metaPath)]);
        meta = JSON.parse(text) as EntryMeta;
        if (typeof meta.stateKey !== "string" || !Array.isArray(meta.chain)) throw new Error("not an entry");
        usedMs = info.mtimeMs;
      } catch {
        continue; // unreadable or half-written by another process: not an entry
      }
      const size = await stat(join(this.directory, `${id}.state`)).then((st) => st.size, () => -1);
      if (size !== meta.bytes || (await this.crashedWhileLoading(id))) {
        await this.remove(id);
        continue;
      }
      out.push({ ...meta, id, usedMs });
    }
    return out;
  }

  async find(stateKey: string, chain: readonly string[]): Promise<CacheHit | undefined> {
    let best: { entry: Entry; segments: number } | undefined;
    for (const entry of await this.entries()) {
      if (entry.stateKey !== stateKey) continue;
      let shared = 0;
      while (shared < chain.length && shared < entry.chain.length && chain[shared] === entry.chain[shared]) shared++;
      const segments = shared - 1;
      if (segments < 1) continue;
      if (!best || segments > best.segments || (segments === best.segments && entry.usedMs > best.entry.usedMs)) best = { entry, segments };
    }
    if (!best) return undefined;
    const now = new Date();
    await utimes(join(this.directory, `${best.entry.id}.json`), now, now).catch(() => undefined);
    return { file: join(this.directory, `${best.entry.id}.state`), segments: best.segments, entrySegments: best.entry.chain.length - 1 };
  }

  async guardLoad<T>(file: string, load: () => Promise<T>): Promise<T> {
    const marker = `${file}.loading`;
    await writeFile(marker, String(process.pid));
    try {
      return await load();
    } finally {
      await rm(marker, { force: true });
    }
  }

  private async crashedWhileLoading(id: string): Promise<boolean> {
    const marker = join(this.directory, `${id}.state.loading`);
    if (!existsSync(marker)) return false;
    const pid = Number(await readFile(marker, "utf8").catch(() => "0"));
    if (!Number.isInteger(pid) || pid <= 0) return true;
    if (pid === process.pid) return false; // this process is loading it now
    try {
      process.kill(pid, 0);
      return false; // another live process is loading it
    } catch {
      return true;
    }
  }

  async store(stateKey: string, chain: readonly string[], save: (file: string) => Promise<void>): Promise<StoreResult> {
    await mkdir(this.directory, { recursive: true });
    const id = createHash("sha256").update(stateKey).update(chain[chain.length - 1]!).digest("hex").slice(0, 32);
    const file = join(this.directory, `${id}.state`);
    const partial = `${file}.${process.pid}.partial`;
    let stored = 0;
    try {
      await save(partial);
      stored = (await stat(partial)).size;
      await rename(partial, file);
      await writeFile(join(this.directory, `${id}.json`), JSON.stringify({ stateKey, chain: [...chain], bytes: stored } satisfies EntryMeta));
    } finally {
      await rm(partial, { force: true });
    }
    await this.evict();
    const kept = await this.entries();
    return { ...this.statsOf(kept), stored: kept.some((e) => e.id === id) ? stored : 0 };
  }

  /** Least recently used first, until the rest fit the limit. */
  private async evict(): Promise<void> {
    const entries = (await this.entries()).sort((a, b) => a.usedMs - b.usedMs);
    let total = entries.reduce((n, e) => n + e.bytes, 0);
    for (const e of entries) {
      if (total <= this.limitBytes) break;
      await this.remove(e.id);
      total -= e.bytes;
    }
  }

  private async remove(id: string): Promise<void> {
    // The .json first: without it the .state is no longer an entry, even if removing it fails.
    await rm(join(this.directory, `${id}.json`), { force: true });
    await rm(join(this.directory, `${id}.state`), { force: true });
    await rm(join(this.directory, `${id}.state.loading`), { force: true });
  }

  async stats(): Promise<CacheStats> {
    return this.statsOf(await this.entries());
  }

  private statsOf(entries: readonly Entry[]): CacheStats {
    return { entries: entries.length, bytes: entries.reduce((n, e) => n + e.bytes, 0), limitBytes: this.limitBytes, directory: this.directory };
  }

  async clear(): Promise<void> {
    await rm(this.directory, { recursive: true, force: true });
  }
}
