// The session's side of the warm cache: loading the entry that shares the longest prefix of
// segments (checked to hold exactly the codebase's tokens), and saving the reader's state after
// the answer. Anything amiss means a cold start; a damaged entry is news, said once.
import { CacheEntryDamaged, type CacheHit, type CodebaseStateCache } from "../cache/stateCache";
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
export async function saveWarm(cache: CodebaseStateCache, stateKey: string, chain: readonly string[], seq: EngineSequence, runId: string, segments: number): Promise<WimEvent> {
  try {
    const expectedBytes = seq.stateBytes?.();
    const r = await cache.store(stateKey, chain, (file) => seq.saveState!(file), expectedBytes ? { expectedBytes } : {});
    return { type: "cache-saved", runId, segments, bytes: r.stored, entries: r.entries, totalBytes: r.bytes, limitBytes: r.limitBytes };
  } catch (err) {
    // A full disk or an unwritable folder costs the next question its warm start, nothing more.
    return { type: "cache-saved", runId, segments, bytes: 0, entries: 0, totalBytes: 0, limitBytes: 0, error: (err as Error).message };
  }
}
