// The session's side of the warm cache: loading the entry that shares the longest prefix of
// segments (checked to hold exactly the codebase's tokens), and saving the reader's state after
// the answer. Anything amiss means a cold start; a damaged entry is news, said once. A codebase
// of several windows is cached window by window (WindowStore): each window's reading is an entry
// of its own, its chain starting from the opening as the window's reading does.
import { CacheEntryDamaged, tokenChain, type CacheHit, type CodebaseStateCache } from "../cache/stateCache";
import { formatBytes } from "../bytes";
import { concatTokens, type EngineSequence, type Token, type TokenList } from "./engine";
import type { WimEvent } from "./events";

export interface WarmHit { file: string; segments: number }

/** Loads a state file into `seq` and cuts it back to `end` tokens. */
export async function restoreState(seq: EngineSequence, file: string, end: number): Promise<void> {
  await seq.loadState!(file);
  if (seq.length < end) throw new Error("the cached state is shorter than expected");
  await seq.truncate(end);
}

/** Whether `seq` holds exactly the opening and the first `segments` segments (and perhaps more after them). */
function holdsPrefix(seq: EngineSequence, opening: readonly Token[], segmentTokens: readonly TokenList[], segments: number): boolean {
  const expected = concatTokens([opening, ...segmentTokens.slice(0, segments)]);
  const held = seq.tokens;
  return held.length >= expected.length && expected.every((t, i) => held[i] === t);
}

/**
 * The entry sharing the longest prefix, its state in `seq` cut to that prefix; undefined for a
 * cold start (`seq` emptied), with `note` set when the reason is one to tell (a damaged entry,
 * dropped). When `seq` still holds that prefix (the engine's last question read this codebase, or
 * loaded it), nothing is loaded: the entry is only checked, as the backward margins' restore will
 * load it.
 */
export async function warmStart(o: {
  cache: CodebaseStateCache; stateKey: string; chain: readonly string[]; seq: EngineSequence;
  opening: readonly Token[]; segmentTokens: readonly TokenList[]; ends: readonly number[];
}): Promise<{ hit?: WarmHit; note?: string }> {
  let hit: CacheHit | undefined;
  // Why the best entry was dropped, when it was; an unreadable folder is a cold start like an empty one.
  let dropped: string | undefined;
  try {
    hit = await o.cache.find(o.stateKey, o.chain);
  } catch (err) {
    if (err instanceof CacheEntryDamaged) dropped = err.message;
  }
  try {
    if (!hit) throw new Error("no entry shares a segment");
    const end = o.ends[hit.segments - 1]!;
    if (holdsPrefix(o.seq, o.opening, o.segmentTokens, hit.segments)) {
      await o.cache.verify(hit.file);
      await o.seq.truncate(end);
    } else {
      await o.cache.guardLoad(hit.file, () => restoreState(o.seq, hit.file, end));
      // The file's own tokens must be exactly the codebase's: a hash collision or a foreign file is refused.
      if (o.seq.length !== end || !holdsPrefix(o.seq, o.opening, o.segmentTokens, hit.segments)) throw new Error("the cached state holds other tokens");
    }
    return { hit: { file: hit.file, segments: hit.segments }, ...(hit.dropped ? { note: hit.dropped } : {}) };
  } catch (err) {
    await o.seq.truncate(0).catch(() => undefined);
    const note = err instanceof CacheEntryDamaged ? err.message : dropped;
    return note ? { note } : {};
  }
}

/** Saves the reader's state under the chain of the segments it holds; a failure is reported, not thrown. */
export async function saveWarm(cache: CodebaseStateCache, stateKey: string, chain: readonly string[], seq: EngineSequence, runId: string, segments: number, onWritten?: () => void): Promise<WimEvent> {
  try {
    const expectedBytes = seq.stateBytes?.();
    const r = await cache.store(stateKey, chain, (file) => seq.saveState!(file), { ...(expectedBytes ? { expectedBytes } : {}), ...(onWritten ? { onWritten } : {}) });
    return { type: "cache-saved", runId, segments, bytes: r.stored, entries: r.entries, totalBytes: r.bytes, limitBytes: r.limitBytes };
  } catch (err) {
    // A full disk or an unwritable folder costs the next question its warm start, nothing more.
    return { type: "cache-saved", runId, segments, bytes: 0, entries: 0, totalBytes: 0, limitBytes: 0, error: (err as Error).message };
  }
}

/**
 * The warm cache over the windows of one run, in reading order: a window's entry is looked up,
 * loaded and saved under its own chain. A codebase whose windows would not all fit in the cache
 * is not cached: saving each window would only evict the one saved before it, at every question.
 */
export class WindowStore {
  private readonly chains = new Map<number, string[]>();
  /** The last save behind the reading (saveBehind), and the events of those finished. */
  private behind: Promise<void> = Promise.resolve();
  private readonly done: WimEvent[] = [];
  /** What all the windows' states would take, once the reader's state gives a size per token. */
  private need?: number;
  private skipped = false;

  constructor(private readonly o: {
    cache: CodebaseStateCache; stateKey: string; seq: EngineSequence; opening: readonly Token[]; runId: string;
    /** Each segment's tokens, where it ends in its window, and each window's first segment and the one after its last, in reading order. */
    segmentTokens: readonly TokenList[]; ends: readonly number[]; firstOf: readonly number[]; endOf: readonly number[];
  }) {}

  private chain(w: number): string[] {
    let chain = this.chains.get(w);
    if (!chain) this.chains.set(w, (chain = tokenChain(this.o.opening, this.o.segmentTokens.slice(this.o.firstOf[w], this.o.endOf[w]))));
    return chain;
  }

  /** Window `w`'s entry loaded into the reader (which holds nothing of it, or only the opening), or a cold start. */
  start(w: number): Promise<{ hit?: WarmHit; note?: string }> {
    const [first, end] = [this.o.firstOf[w]!, this.o.endOf[w]!];
    return warmStart({
      cache: this.o.cache, stateKey: this.o.stateKey, chain: this.chain(w), seq: this.o.seq, opening: this.o.opening,
      segmentTokens: this.o.segmentTokens.slice(first, end), ends: this.o.ends.slice(first, end),
    });
  }

  /** Segments of the windows after the first that the cache holds (looked up, not loaded). */
  async reusable(): Promise<number> {
    let n = 0;
    for (let w = 1; w < this.o.firstOf.length; w++) n += (await this.o.cache.find(this.o.stateKey, this.chain(w)).catch(() => undefined))?.segments ?? 0;
    return n;
  }

  /**
   * The entry loaded again after the backward margins, cut after segment `last`; "read" when it
   * is gone or damaged since (another window or the CLI shares the cache): the reader is empty,
   * for the caller to read the segments.
   */
  async restore(hit: WarmHit, last: number): Promise<"loaded" | "read"> {
    try {
      await this.o.cache.guardLoad(hit.file, () => restoreState(this.o.seq, hit.file, this.o.ends[last]!), { verify: false });
      return "loaded";
    } catch {
      await this.o.seq.truncate(0);
      return "read";
    }
  }

  /** Whether every window's state fits in the cache: always for one window (the cache says when it alone is too large). */
  fits(): boolean {
    const windows = this.o.firstOf.length;
    if (windows === 1) return true;
    if (this.need === undefined) {
      const bytes = this.o.seq.stateBytes?.();
      if (!bytes || this.o.seq.length === 0) return true;
      const tokens = this.o.segmentTokens.reduce((n, t) => n + t.length, 0) + windows * this.o.opening.length;
      this.need = (bytes / this.o.seq.length) * tokens;
    }
    return this.need <= this.o.cache.limitBytes;
  }

  /** Saves the reader, which holds window `w`'s first `segments` segments, when the cache can keep every window (else undefined). */
  private save(w: number, segments: number, onWritten?: () => void): Promise<WimEvent> | undefined {
    if (!this.fits()) {
      this.skipped = true;
      return undefined;
    }
    return saveWarm(this.o.cache, this.o.stateKey, this.chain(w).slice(0, segments + 1), this.o.seq, this.o.runId, segments, onWritten);
  }

  /**
   * Saves a window the reading goes on from: resolves once the state is written, so that the next
   * window is read while the state's checksum and record are made (a third of a save of hundreds
   * of MiB). The save's event comes from finished().
   */
  async saveBehind(w: number, segments: number): Promise<void> {
    await this.behind;
    let written!: () => void;
    const wrote = new Promise<void>((done) => (written = done));
    const saved = this.save(w, segments, written);
    if (!saved) return;
    this.behind = saved.then((event) => { this.done.push(event); });
    // A save that fails before it writes settles without telling.
    await Promise.race([wrote, saved]);
  }

  /** The events of the saves behind the reading that have finished. */
  finished(): WimEvent[] {
    return this.done.splice(0);
  }

  /**
   * After the answer: saves the window the reader holds (`w`, of which the cache gave `reused`
   * segments) where it read more of it, and says when windows were not saved for want of room.
   * `r`: what the reader held for the answer, which may have erased the window's last segments.
   */
  async *afterAnswer(r: { read: number; windowEnds: number[]; codebaseEnd: number }, w: number, reused: number, signal?: AbortSignal): AsyncGenerator<WimEvent> {
    await this.behind;
    yield* this.finished();
    const first = this.o.firstOf[w]!;
    const inWindow = r.read - first;
    let held = r.windowEnds.filter((e) => e <= r.codebaseEnd).length;
    if (held < inWindow && inWindow > reused && this.fits() && !signal?.aborted) {
      // The answer made its room by erasing the window's last segments: read them again, so that
      // the next question finds the whole window in the cache, not all but its end.
      await this.o.seq.append(concatTokens(this.o.segmentTokens.slice(first + held, r.read)), signal).then(() => {
        r.codebaseEnd = this.o.seq.length;
        held = inWindow;
      }, () => this.o.seq.truncate(r.codebaseEnd));
    }
    const saved = held > reused ? await this.save(w, held) : undefined;
    if (saved) yield saved;
    if (this.skipped) {
      yield {
        type: "cache-saved", runId: this.o.runId, segments: 0, bytes: 0, entries: 0, totalBytes: 0, limitBytes: this.o.cache.limitBytes,
        error: `its ${this.o.firstOf.length} windows would take about ${formatBytes(this.need!)}, more than the cache's ${formatBytes(this.o.cache.limitBytes)}: a larger cache keeps it`,
      };
    }
  }
}
