// The warm codebase cache: the reader's KV state after reading a codebase, saved to disk so that
// the next question about the same (or a partly edited) codebase does not prefill it again.
// An entry is keyed by the engine's state key (model file, backend, KV settings) and by a hash
// chain over the exact tokens: chain[0] covers the opening, chain[k + 1] adds segment k. Two
// codebases share a prefix of k segments exactly when their chains agree up to chain[k].
// Each entry is two files, <id>.state and <id>.json (written last: its presence means complete);
// the .json file's mtime is the entry's last use, for least-recently-used eviction.
// A state file damaged on disk would load and silently change every later answer, and llama.cpp
// aborts the whole process on some damaged files: so the .json records the state's size and
// SHA-256, both checked before a load, and a load runs under a marker naming the process. The
// folder's files are the cache's own by their names (cacheFolder.ts); what others wrote is never
// touched.
import { createHash } from "node:crypto";
import { createReadStream, existsSync, type BigIntStats } from "node:fs";
import { mkdir, readFile, rename, rm, stat, utimes, writeFile } from "node:fs/promises";
import { homedir } from "node:os";
import { basename, join } from "node:path";
import { freeBytes } from "../freeSpace";
import { clearFolder, FOLDER_MARKER, scanFolder, type CacheFile, type Cleared } from "./cacheFolder";
import type { Token, TokenList } from "../wim/engine";
import { formatBytes } from "../bytes";

export interface CacheHit {
  file: string;
  /** Leading segments whose tokens equal the entry's. */
  segments: number;
  /** Segments the entry holds. */
  entrySegments: number;
  /** Why an entry that shared more segments was dropped (damaged on disk), when one was. */
  dropped?: string;
}

export interface CacheStats {
  entries: number;
  bytes: number;
  limitBytes: number;
  directory: string;
  /** The cache's own files that are no entry yet or any more (a save or a load under way, or not yet cleaned up). */
  pendingFiles: number;
  pendingBytes: number;
  /** Files in the folder that the cache did not write: never touched. */
  foreignFiles: number;
}

export interface StoreResult extends CacheStats {
  /** The new entry's size; 0 when it alone exceeded the limit and was not kept. */
  stored: number;
}

export interface StoreOptions {
  /** About how large the state will be: room is made on the disk first, or the save refused. */
  expectedBytes?: number;
  /**
   * Told once `save` has written the state, before its checksum and record: the state's source
   * (the engine's sequence) is free again while the rest of the store goes on.
   */
  onWritten?: () => void;
}

export interface CodebaseStateCache {
  /** The most the entries may take together. */
  readonly limitBytes: number;
  /** The entry sharing the longest prefix (at least one segment) with `chain`, marked as just used. */
  find(stateKey: string, chain: readonly string[]): Promise<CacheHit | undefined>;
  /** Checks a hit's file against its checksum; throws CacheEntryDamaged (and drops the entry) when it differs. */
  verify(file: string): Promise<void>;
  /** Checks a hit's file against its checksum, then runs `load` on it under a marker (see DiskStateCache.guardLoad). */
  guardLoad<T>(file: string, load: () => Promise<T>, options?: { verify?: boolean }): Promise<T>;
  /**
   * Saves a state through `save` under `chain`, then evicts the least recently used entries over
   * the limit. With `expectedBytes`, first makes room on the disk (older entries go) or refuses
   * with NoRoomForState, rather than filling the disk.
   */
  store(stateKey: string, chain: readonly string[], save: (file: string) => Promise<void>, options?: StoreOptions): Promise<StoreResult>;
  stats(): Promise<CacheStats>;
  clear(): Promise<Cleared>;
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

/** The entry format: a version 2 entry carries its state file's SHA-256. Others are dropped. */
const FORMAT = 2;
interface EntryMeta { format: number; stateKey: string; chain: string[]; bytes: number; sha256: string }
interface Entry extends EntryMeta { id: string; usedMs: number }
/** An entry found damaged and removed, with what was wrong, for find to tell when it is the match. */
interface Dropped { stateKey: string; chain: string[]; reason: string }
/** Dropped entries remembered until a question they match is told (any scan removes them, a save's too). */
const UNTOLD = 16;

/** A file that is not another process's, half written, after this long without change, is an orphan. */
const ORPHAN_AGE_MS = 60_000;

/** The entry's state file is not what was saved: it is dropped and the codebase read cold. */
export class CacheEntryDamaged extends Error {
  override name = "CacheEntryDamaged";
  constructor(reason: string) {
    super(`the warm cache's saved state ${reason}: it was dropped, and the codebase is read again`);
  }
}

/**
 * Free space a save leaves on the cache's disk at the least: a cache that fills the disk to its
 * last bytes breaks the user's other programs, and a warm start is not worth that.
 */
export const KEEP_FREE_BYTES = 1 << 30;

/** Not enough room on the disk for the state (after making what room older entries gave). */
export class NoRoomForState extends Error {
  override name = "NoRoomForState";
}


/** Stores under way in this process, by entry (see DiskStateCache.store). */
const storing = new Map<string, Promise<StoreResult>>();

/** Files and bytes this process has hashed, for tests and benchmarks. */
export const checksumStats = { files: 0, bytes: 0 };

/** SHA-256 of a file, streamed: a state is hundreds of MiB. */
export async function fileSha256(file: string): Promise<string> {
  const hash = createHash("sha256");
  checksumStats.files++;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    hash.update(chunk as Buffer);
    checksumStats.bytes += (chunk as Buffer).length;
  }
  return hash.digest("hex");
}

/**
 * State files this process has hashed itself (on saving, or on a check), by path, with what stat
 * said then. A second question in the same engine loads the state saved after the first one:
 * hashing its hundreds of MiB again (0.3 s on the H200's host, as long as the load itself) would
 * only confirm what its unchanged inode, size and times already say. Any write, copy or touch
 * since changes the ctime, which nothing can set back, and the file is hashed again.
 */
const hashedHere = new Map<string, { sha256: string; stat: string }>();
const statPrint = (s: BigIntStats): string => [s.dev, s.ino, s.size, s.mtimeNs, s.ctimeNs].join(":");

async function rememberHash(file: string, sha256: string): Promise<void> {
  hashedHere.set(file, { sha256, stat: statPrint(await stat(file, { bigint: true })) });
}

/** The file's SHA-256, from this process's memory when the file is unchanged since it was hashed here. */
async function stateSha256(file: string): Promise<string> {
  const known = hashedHere.get(file);
  if (known && known.stat === statPrint(await stat(file, { bigint: true }))) return known.sha256;
  const sha256 = await fileSha256(file);
  await rememberHash(file, sha256);
  return sha256;
}

function alive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

export class DiskStateCache implements CodebaseStateCache {
  private untold: Dropped[] = [];

  constructor(readonly directory: string, readonly limitBytes: number, private readonly keepFreeBytes: number = KEEP_FREE_BYTES) {}

  private path(name: string): string {
    return join(this.directory, name);
  }

  /**
   * The entries, after accounting for every file of the cache's own in the folder: what another
   * process left half done (a partial save, a load marker, a state without its record, a record
   * that does not parse) is removed once nobody can still be writing it.
   */
  private async entries(): Promise<Entry[]> {
    const scan = await scanFolder(this.directory);
    const byId = new Map<string, CacheFile[]>();
    for (const f of scan.own) if (f.id) byId.set(f.id, [...(byId.get(f.id) ?? []), f]);
    const old = (f: CacheFile): boolean => Date.now() - f.modifiedMs > ORPHAN_AGE_MS;
    const out: Entry[] = [];
    for (const [id, files] of byId) {
      const of = (kind: CacheFile["kind"]): CacheFile | undefined => files.find((f) => f.kind === kind);
      for (const p of files.filter((f) => f.kind === "partial" && !alive(f.pid!))) await this.removeFile(p.name);
      const meta = of("meta");
      const state = of("state");
      if (!meta) {
        if (state && old(state)) await this.remove(id);
        continue;
      }
      let parsed: EntryMeta | undefined;
      try {
        parsed = JSON.parse(await readFile(this.path(meta.name), "utf8")) as EntryMeta;
        if (parsed.format !== FORMAT || typeof parsed.stateKey !== "string" || !Array.isArray(parsed.chain) || typeof parsed.sha256 !== "string") parsed = undefined;
      } catch {
        parsed = undefined;
      }
      if (!parsed) {
        // Half written by a process that is still storing it, or damaged, or from another version.
        if (old(meta)) await this.remove(id);
        continue;
      }
      // A cut or missing file (a full disk, a copy stopped halfway, a hand that tidied up): llama.cpp
      // may abort on it, so it is never loaded; the user hears why the question starts cold.
      const wrong = !state ? "file is missing" : state.bytes !== parsed.bytes ? `file changed size (${state.bytes.toLocaleString("en-US")} bytes, saved as ${parsed.bytes.toLocaleString("en-US")})` : undefined;
      const loading = wrong ? undefined : of("loading");
      const survived = !loading || (await this.loadSurvived(id, loading.name, parsed));
      if (wrong || !survived) {
        if (wrong) await this.remove(id);
        this.untold = [...this.untold.slice(1 - UNTOLD), { stateKey: parsed.stateKey, chain: parsed.chain, reason: wrong ?? "changed while a load of it was cut short" }];
        continue;
      }
      out.push({ ...parsed, id, usedMs: meta.modifiedMs });
    }
    return out;
  }

  /**
   * A load marker left behind: the process loading the entry died. If its state file is still the
   * one saved, the death was not the file's doing (the user stopped it): the marker goes, the
   * entry stays. Otherwise the entry goes.
   */
  private async loadSurvived(id: string, marker: string, meta: EntryMeta): Promise<boolean> {
    const pid = Number(await readFile(this.path(marker), "utf8").catch(() => "0"));
    if (Number.isInteger(pid) && pid > 0 && alive(pid)) return true;
    if ((await fileSha256(this.path(`${id}.state`)).catch(() => "")) === meta.sha256) {
      await this.removeFile(marker);
      return true;
    }
    await this.remove(id);
    return false;
  }

  async find(stateKey: string, chain: readonly string[]): Promise<CacheHit | undefined> {
    const entries = await this.entries();
    const sharedSegments = (entry: { stateKey: string; chain: readonly string[] }): number => {
      if (entry.stateKey !== stateKey) return 0;
      let shared = 0;
      while (shared < chain.length && shared < entry.chain.length && chain[shared] === entry.chain[shared]) shared++;
      return shared - 1;
    };
    let best: { entry: Entry; segments: number } | undefined;
    for (const entry of entries) {
      const segments = sharedSegments(entry);
      if (segments < 1) continue;
      if (!best || segments > best.segments || (segments === best.segments && entry.usedMs > best.entry.usedMs)) best = { entry, segments };
    }
    // Said only when the damaged entry was this codebase's best: another codebase's is nobody's news.
    const lost = this.untold.find((d) => sharedSegments(d) > (best?.segments ?? 0));
    if (lost) this.untold = this.untold.filter((d) => d !== lost);
    if (!best) {
      if (lost) throw new CacheEntryDamaged(lost.reason);
      return undefined;
    }
    const now = new Date();
    await utimes(this.path(`${best.entry.id}.json`), now, now).catch(() => undefined);
    return {
      file: this.path(`${best.entry.id}.state`), segments: best.segments, entrySegments: best.entry.chain.length - 1,
      ...(lost ? { dropped: `the warm cache's saved state of ${sharedSegments(lost)} segments ${lost.reason}: it was dropped, and an older one of ${best.segments} is used` } : {}),
    };
  }

  /**
   * Checks the state file against its checksum (unless `verified` already), then runs `load` under
   * a marker naming this process. A folder that cannot be written takes no marker: the entry is
   * still used.
   */
  async guardLoad<T>(file: string, load: () => Promise<T>, options: { verify?: boolean } = {}): Promise<T> {
    if (options.verify !== false) await this.verify(file);
    const marker = `${file}.loading`;
    const marked = await writeFile(marker, String(process.pid)).then(() => true, () => false);
    try {
      return await load();
    } finally {
      if (marked) await rm(marker, { force: true }).catch(() => undefined);
    }
  }

  async verify(file: string): Promise<void> {
    const id = basename(file).slice(0, -".state".length);
    const meta = JSON.parse(await readFile(this.path(`${id}.json`), "utf8")) as EntryMeta;
    if ((await stateSha256(file)) !== meta.sha256) {
      await this.remove(id);
      throw new CacheEntryDamaged("did not match its checksum");
    }
  }

  store(stateKey: string, chain: readonly string[], save: (file: string) => Promise<void>, options: StoreOptions = {}): Promise<StoreResult> {
    const id = createHash("sha256").update(stateKey).update(chain[chain.length - 1]!).digest("hex").slice(0, 32);
    // One store of an entry at a time in this process: its partial file is named by the process,
    // and a store whose checksum still runs (onWritten) may meet the next question's store of it.
    const key = this.path(id);
    const mine = (storing.get(key) ?? Promise.resolve()).catch(() => undefined).then(() => this.storeNow(id, stateKey, chain, save, options));
    storing.set(key, mine);
    void mine.catch(() => undefined).then(() => { if (storing.get(key) === mine) storing.delete(key); });
    return mine;
  }

  private async storeNow(id: string, stateKey: string, chain: readonly string[], save: (file: string) => Promise<void>, options: StoreOptions): Promise<StoreResult> {
    await mkdir(this.directory, { recursive: true });
    if (!existsSync(this.path(FOLDER_MARKER))) await writeFile(this.path(FOLDER_MARKER), JSON.stringify({ format: FORMAT, note: "ask-codebase's warm codebase cache" }));
    if (options.expectedBytes) await this.makeRoom(options.expectedBytes, id);
    const file = this.path(`${id}.state`);
    const partial = `${file}.${process.pid}.partial`;
    let stored = 0;
    try {
      try {
        await save(partial);
      } catch (err) {
        // The engine says only that it failed; a full disk is the usual reason, and worth naming.
        const free = await freeBytes(this.directory);
        throw new Error(`${(err as Error).message}${free === undefined ? "" : ` (the disk holding ${this.directory} has ${formatBytes(free)} free)`}`);
      }
      options.onWritten?.();
      stored = (await stat(partial)).size;
      const sha256 = await fileSha256(partial);
      await rename(partial, file);
      await rememberHash(file, sha256);
      await writeFile(this.path(`${id}.json`), JSON.stringify({ format: FORMAT, stateKey, chain: [...chain], bytes: stored, sha256 } satisfies EntryMeta));
    } finally {
      await rm(partial, { force: true });
    }
    await this.evict();
    const kept = await this.entries();
    return { ...(await this.statsOf(kept)), stored: kept.some((e) => e.id === id) ? stored : 0 };
  }

  /**
   * Room for a state of about `bytes` that still leaves keepFreeBytes free: the least recently used
   * entries (of any model) give theirs first, as the limit's eviction would after the save; if all
   * of them would not make enough, none goes and the save is refused.
   */
  private async makeRoom(bytes: number, replacing: string): Promise<void> {
    const free = await freeBytes(this.directory);
    if (free === undefined) return;
    const need = bytes + this.keepFreeBytes;
    if (free >= need) return;
    const entries = (await this.entries()).filter((e) => e.id !== replacing);
    const reclaimable = entries.reduce((n, e) => n + e.bytes, 0);
    if (free + reclaimable < need) {
      throw new NoRoomForState(`the disk holding ${this.directory} has ${formatBytes(free)} free and the state takes about ${formatBytes(bytes)}; the cache leaves ${formatBytes(this.keepFreeBytes)} free for other programs`);
    }
    await this.removeLeastRecent(entries, (freed) => free + freed >= need);
  }

  /** Least recently used first, until the rest fit the limit. */
  private async evict(): Promise<void> {
    const entries = await this.entries();
    const total = entries.reduce((n, e) => n + e.bytes, 0);
    await this.removeLeastRecent(entries, (freed) => total - freed <= this.limitBytes);
  }

  /** Removes entries, least recently used first, until `enough` says the bytes freed suffice. */
  private async removeLeastRecent(entries: readonly Entry[], enough: (freed: number) => boolean): Promise<void> {
    let freed = 0;
    for (const e of [...entries].sort((a, b) => a.usedMs - b.usedMs)) {
      if (enough(freed)) break;
      await this.remove(e.id);
      freed += e.bytes;
    }
  }

  private async removeFile(name: string): Promise<void> {
    await rm(this.path(name), { force: true }).catch(() => undefined);
  }

  private async remove(id: string): Promise<void> {
    // The .json first: without it the .state is no longer an entry, even if removing it fails.
    await this.removeFile(`${id}.json`);
    await this.removeFile(`${id}.state`);
    hashedHere.delete(this.path(`${id}.state`));
    await this.removeFile(`${id}.state.loading`);
  }

  async stats(): Promise<CacheStats> {
    return this.statsOf(await this.entries());
  }

  private async statsOf(entries: readonly Entry[]): Promise<CacheStats> {
    const scan = await scanFolder(this.directory);
    const counted = new Set(entries.flatMap((e) => [`${e.id}.json`, `${e.id}.state`]));
    const rest = scan.own.filter((f) => !counted.has(f.name) && f.kind !== "marker");
    return {
      entries: entries.length, bytes: entries.reduce((n, e) => n + e.bytes, 0), limitBytes: this.limitBytes, directory: this.directory,
      pendingFiles: rest.length, pendingBytes: rest.reduce((n, f) => n + f.bytes, 0),
      foreignFiles: scan.foreign.length,
    };
  }

  /** Removes the cache's own files, and only those; refuses a folder that is not a cache (see clearFolder). */
  clear(): Promise<Cleared> {
    return clearFolder(this.directory);
  }
}
