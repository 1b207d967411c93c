// One node-llama-cpp context sequence behind the core's EngineSequence: prefill in abortable
// pieces, greedy generation, erasing from the end, saved states, and next-token probabilities.
//
// An append's last part batch is held back and sent with whatever the sequence evaluates next.
// On a GPU a small decode costs much of a full one (the weights are read either way: on the H200's
// Vulkan a 92-token prompt is 12-15 ms of GPU time against 19-52 ms for 2,048 tokens), and on CUDA
// it first waits for the batch before it. So a segment's tail and WiM's extractive prompt after it
// go as one batch, as do one segment's tail and the next one's head: 5 ms less a segment's stop on
// CUDA, 10 on Vulkan (README, bench:prefill-parts' verdict and unmerged ways).
import type { BatchItem, LlamaContext, LlamaContextSequence, PrioritizedBatchItem, Token as LlamaToken, TokenBias } from "node-llama-cpp";
import { abortError, CANDIDATE_LIFT, type EngineSequence, type GenerateOptions, type Token, type TokenList } from "../../core/wim/engine";

/** node-llama-cpp brands its token type; ours is a plain number. */
const asLlama = (tokens: readonly Token[]): LlamaToken[] => tokens as LlamaToken[];

/** Largest prefill handed to node-llama-cpp at once: an abort is noticed between these. */
const APPEND_PIECE = 2048;

/** Whether appends hold their last part batch back (ASK_CODEBASE_MERGE_TAIL=off sends it at once, for benchmarks). */
export function mergeTailWanted(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.ASK_CODEBASE_MERGE_TAIL?.trim() !== "off";
}

/** What a sequence reports to the engine that owns it: tokens evaluated, erases, where generation ends. */
export interface SequenceOwner {
  evaluatedTokens: number;
  stateLoads: number;
  readonly erases: { count: number; totalMs: number }[];
  isEndOfGeneration(token: Token): boolean;
  /** An empty TokenBias for the model: made at once, so a classification is queued in the tick it is asked for (see shareBatch). */
  newTokenBias(): TokenBias;
  /** A generated token is wanted now: the owner may keep the event loop polling for it (awakeLoop.ts). */
  tokenComing(): void;
}

/** The addon shim's call for a share: a shift by INT32_MIN (engine/backend/sharedCells.c). */
const SHARE_DELTA = -2147483648;
/** A position read of this sequence asks the shim whether the context shares cells; this answer says it does. */
const SHARE_PROBE = -1000003;
const SHARE_READY = 1000003;

/** node-llama-cpp 3.21.1's internals a share reaches: the addon context, and a sequence's own record of its tokens. */
interface SequenceInternals {
  _context: { _ctx: { shiftSequenceTokenCells(seq: number, start: number, end: number, delta: number): void; getSequenceKvCacheMaxPosition(seq: number): number } };
  _sequenceId: number;
  _contextTokens: Token[];
  _nextTokenIndex: number;
}

const internals = (seq: LlamaContextSequence): SequenceInternals => seq as unknown as SequenceInternals;

/** Whether the addon shim shares cells in `context` (a unified cache it made for several sequences). Only where the shim is loaded. */
export function sharesCells(context: LlamaContext): boolean {
  const ctx = (context as unknown as Partial<SequenceInternals["_context"]>)._ctx;
  try {
    return typeof ctx?.shiftSequenceTokenCells === "function" && ctx.getSequenceKvCacheMaxPosition(SHARE_PROBE) === SHARE_READY;
  } catch {
    return false;
  }
}

export class LlamaSequence implements EngineSequence {
  private bias?: { key: string; bias: TokenBias };
  /** Appended, not yet evaluated: less than one batch, sent in the next evaluation's first batch. */
  private held: Token[] = [];
  /** Set where the context shares cells (the engine checks with sharesCells): see EngineSequence.shareFrom. */
  shareFrom?: (source: EngineSequence, length: number) => Promise<void>;
  /** Holds a shared prefix now: it erases through the shim (sharedCells.c). */
  private forked = false;
  constructor(private readonly seq: LlamaContextSequence, private readonly engine: SequenceOwner, private readonly index = -1, private readonly mergeTail = mergeTailWanted()) {}

  get length(): number {
    return this.seq.nextTokenIndex + this.held.length;
  }

  get tokens(): readonly Token[] {
    return this.held.length ? [...this.seq.contextTokens, ...this.held] : this.seq.contextTokens;
  }

  /** Tokens appended but not yet evaluated (they go with the next evaluation). */
  get heldTokens(): number {
    return this.held.length;
  }

  async append(tokens: TokenList, signal?: AbortSignal, options?: { whole?: boolean }): Promise<void> {
    const batch = this.seq.context.batchSize;
    const all = this.held.length ? [...this.held, ...Array.from(tokens)] : tokens;
    const keep = this.mergeTail && !options?.whole ? all.length % batch : 0;
    // Pieces of whole batches, at least APPEND_PIECE long, so that a large batch size is not cut down by the piece.
    const step = Math.ceil(APPEND_PIECE / batch) * batch;
    const now = all.length - keep;
    this.held = [];
    for (let i = 0; i < now; i += step) {
      if (signal?.aborted) throw abortError(signal);
      const piece = Array.from(all.slice(i, Math.min(i + step, now)));
      await this.seq.evaluateWithoutGeneratingNewTokens(asLlama(piece));
      this.engine.evaluatedTokens += piece.length;
    }
    if (keep) this.held = Array.from(all.slice(now));
  }

  /** Empties the sequence, held tokens too. */
  async clear(): Promise<void> {
    this.held = [];
    this.forked = false;
    await this.seq.clearHistory();
  }

  /** Lets this sequence take prefixes of the others in its context by sharing cells. */
  allowSharing(): void {
    this.shareFrom = (source, length) => this.share(source as LlamaSequence, length);
  }

  private async share(source: LlamaSequence, length: number): Promise<void> {
    if (!(source instanceof LlamaSequence) || source.seq.context !== this.seq.context) throw new Error("a sequence shares only from another of its context");
    if (length > source.length) throw new Error(`cannot share ${length} tokens of a sequence that holds ${source.length}`);
    // The cells must exist before they can be shared.
    if (length > source.seq.nextTokenIndex) await source.flush();
    this.held = [];
    this.sharedRequest(internals(source.seq)._sequenceId, length, source.seq.contextTokens.slice(0, length));
    this.forked = true;
  }

  /**
   * Asks the shim (sharedCells.c) to give this sequence `source`'s cells up to `end`, or, from
   * itself, to drop its own from `end` on: carried out before the context's next decode or memory
   * call, never waiting for node-llama-cpp's lock. Its record of the tokens becomes `tokens`, since
   * node-llama-cpp places a sequence's next tokens after the ones it records.
   */
  private sharedRequest(source: number, end: number, tokens: Token[]): void {
    const self = internals(this.seq);
    self._context._ctx.shiftSequenceTokenCells(source, self._sequenceId, end, SHARE_DELTA);
    self._contextTokens = tokens;
    self._nextTokenIndex = end;
  }

  /** Evaluates what appends held back, if anything (before what needs the KV cache itself: a saved state). */
  async flush(): Promise<void> {
    if (this.held.length) await this.seq.evaluateWithoutGeneratingNewTokens(asLlama(this.withHeld([])));
  }

  /** `prompt` after the held tokens, which it takes: what the next evaluation sends. */
  private withHeld(prompt: readonly Token[]): Token[] {
    const out = this.held.length ? [...this.held, ...prompt] : [...prompt];
    this.engine.evaluatedTokens += this.held.length;
    this.held = [];
    return out;
  }

  async *generate(prompt: readonly Token[], { maxTokens, signal, shouldStop, copyFrom }: GenerateOptions): AsyncGenerator<Token> {
    if (signal?.aborted) throw abortError(signal);
    // node-llama-cpp gives a predictor its input only from its chat and completion classes; a bare
    // evaluate() must set it, or the lookup finds nothing to draft from.
    this.seq.tokenPredictor?.updateInputTokens?.(asLlama(Array.from(copyFrom ?? [])));
    this.engine.evaluatedTokens += prompt.length;
    const input = this.withHeld(prompt);
    let produced = 0;
    this.engine.tokenComing();
    // evaluate() takes no AbortSignal: leaving the loop is how generation stops.
    for await (const token of this.seq.evaluate(asLlama(input), { temperature: 0 })) {
      this.engine.tokenComing();
      if (this.engine.isEndOfGeneration(token)) break;
      if (produced > 0) this.engine.evaluatedTokens++;
      produced++;
      yield token;
      if (produced >= maxTokens || signal?.aborted || shouldStop?.()) break;
    }
  }

  async truncate(length: number): Promise<void> {
    const end = this.seq.nextTokenIndex;
    // Held tokens past `length` are dropped unevaluated; if any stay, nothing evaluated goes.
    this.held = this.held.slice(0, Math.max(0, length - end));
    if (length >= end) return;
    if (this.forked) {
      // A fork erases its margin through the shim, beside the reader's batches (sharedCells.c).
      this.sharedRequest(internals(this.seq)._sequenceId, length, this.seq.contextTokens.slice(0, length));
      return;
    }
    const started = performance.now();
    await this.seq.eraseContextTokenRanges([{ start: length, end }]);
    if (this.index >= 0) {
      const stat = (this.engine.erases[this.index] ??= { count: 0, totalMs: 0 });
      stat.count++;
      stat.totalMs += performance.now() - started;
    }
  }

  async saveState(file: string): Promise<void> {
    await this.flush();
    await this.seq.saveStateToFile(file);
  }

  stateBytes(): number {
    // The context's state (every sequence's cells: an upper bound for this one's), the held tokens'
    // cells at the same rate (a save evaluates them first), and the token list and header the file adds.
    const state = this.seq.context.stateSize;
    const evaluated = this.seq.nextTokenIndex;
    const held = this.held.length;
    return Math.ceil(state + (evaluated > 0 ? (state / evaluated) * held : 0) + 4 * (evaluated + held) + 4096);
  }

  async loadState(file: string): Promise<void> {
    // The risk node-llama-cpp names is a state from another model; the cache keys entries by the
    // model file (stateKey) and the session checks the loaded tokens before using them.
    this.held = [];
    await this.seq.loadStateFromFile(file, { acceptRisk: true });
    this.engine.stateLoads++;
  }

  /**
   * The candidates' next-token probabilities relative to each other (what a verdict needs), without
   * the whole vocabulary's. node-llama-cpp returns every token's probability as a Map: with a
   * 32k vocabulary that cost 20-25 ms a verdict, on the CPU and on the H200 alike, two to three
   * times the prompt's own evaluation. Instead every candidate's logit is lifted (CANDIDATE_LIFT)
   * and top-k keeps just them.
   */
  async nextTokenProbabilities(prompt: readonly Token[], candidates: readonly Token[]): Promise<number[]> {
    if (!prompt.length) throw new Error("nextTokenProbabilities needs a prompt");
    const last = prompt[prompt.length - 1]!;
    const distinct = [...new Set(candidates)];
    const options = { temperature: 1, topK: distinct.length, topP: 1, minP: 0, seed: 0, tokenBias: this.candidateBias(distinct) };
    this.engine.evaluatedTokens += prompt.length;
    const input = this.withHeld(prompt.slice(0, -1));
    const result = await this.seq.controlledEvaluate([...input, [last, { generateNext: { probabilities: true, options } }]] as never);
    const probabilities = result[result.length - 1]?.next?.probabilities;
    return candidates.map((c) => probabilities?.get(c as LlamaToken) ?? 0);
  }

  private candidateBias(candidates: readonly Token[]): TokenBias {
    const key = candidates.join(",");
    if (this.bias?.key !== key) {
      const bias = this.engine.newTokenBias();
      for (const c of candidates) bias.set(c as LlamaToken, { logit: CANDIDATE_LIFT });
      this.bias = { key, bias };
    }
    return this.bias.bias;
  }
}

/**
 * Each pending evaluation (one per sequence) gets an even share of the batch, the rest goes to
 * whoever needs more: a classification rides along with a prefill instead of waiting for it.
 */
export function shareBatch(items: readonly BatchItem[], size: number, observe?: (tokensPerItem: number[]) => void): PrioritizedBatchItem[] {
  const share = Math.max(1, Math.floor(size / items.length));
  const out = items.map((item) => ({ item, processAmount: Math.min(item.tokens.length, share) }));
  let left = size - out.reduce((n, p) => n + p.processAmount, 0);
  for (const p of out) {
    if (left <= 0) break;
    const more = Math.min(p.item.tokens.length - p.processAmount, left);
    p.processAmount += more;
    left -= more;
  }
  const used = out.filter((p) => p.processAmount > 0);
  observe?.(used.map((p) => p.processAmount));
  return used;
}
