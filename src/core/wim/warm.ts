// The session's side of the warm cache: loading the entry that shares the longest prefix of
// segments (checked to hold exactly the codebase's tokens), and saving the reader's state after
// the answer. Anything amiss means a cold start; a damaged entry is news, said once.
import { CacheEntryDamaged, type CodebaseStateCache } from "../cache/stateCache";
import { concatTokens, type EngineSequence, type Token, type TokenList } from "./engine";
import type { WimEvent } from "./events";

export interface WarmHit { file: string; segments: number }

/** Loads a state file into `seq` and cuts it back to `end` tokens. */
export async function restoreState(seq: EngineSequence, file: string, end: number): Promise<void> {
  await seq.loadState!(file);
  if (seq.length < end) throw new Error("the cached state is shorter than expected");
  await seq.truncate(end);
}

/**
 * The entry sharing the longest prefix, loaded and cut to that prefix; undefined for a cold start,
 * with `note` set when the reason is one to tell (a damaged entry, dropped).
 */
export async function warmStart(o: {
  cache: CodebaseStateCache; stateKey: string; chain: readonly string[]; seq: EngineSequence;
  opening: readonly Token[]; segmentTokens: readonly TokenList[]; ends: readonly number[];
}): Promise<{ hit?: WarmHit; note?: string }> {
  const hit = await o.cache.find(o.stateKey, o.chain).catch(() => undefined);
  if (!hit) return {};
  try {
    await o.cache.guardLoad(hit.file, () => restoreState(o.seq, hit.file, o.ends[hit.segments - 1]!));
    // The file's own tokens must be exactly the codebase's: a hash collision or a foreign file is refused.
    const expected = concatTokens([o.opening, ...o.segmentTokens.slice(0, hit.segments)]);
    const held = o.seq.tokens;
    if (held.length !== expected.length || expected.some((t, i) => held[i] !== t)) throw new Error("the cached state holds other tokens");
    return { hit: { file: hit.file, segments: hit.segments } };
  } catch (err) {
    await o.seq.truncate(0).catch(() => undefined);
    return err instanceof CacheEntryDamaged ? { note: err.message } : {};
  }
}

/** Saves the reader's state under the chain of the segments it holds; a failure is reported, not thrown. */
export async function saveWarm(cache: CodebaseStateCache, stateKey: string, chain: readonly string[], seq: EngineSequence, runId: string, segments: number): Promise<WimEvent> {
  try {
    const r = await cache.store(stateKey, chain, (file) => seq.saveState!(file));
    return { type: "cache-saved", runId, segments, bytes: r.stored, entries: r.entries, totalBytes: r.bytes, limitBytes: r.limitBytes };
  } catch (err) {
    // A full disk or an unwritable folder costs the next question its warm start, nothing more.
    return { type: "cache-saved", runId, segments, bytes: 0, entries: 0, totalBytes: 0, limitBytes: 0, error: (err as Error).message };
  }
}
