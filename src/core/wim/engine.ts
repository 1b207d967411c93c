// What the WiM loop needs from an engine, at the level of tokens: a local node-llama-cpp engine
// implements it over KV-cache sequences; a server engine can implement it over requests that
// resend the prefix. The core never sees a model library.
export type Token = number;
/** Tokens as a run holds them: lists it builds, or a plan's packed arrays. */
export type TokenList = readonly Token[] | Int32Array;

/** The lists one after another. */
export function concatTokens(lists: readonly TokenList[]): Token[] {
  const out: Token[] = [];
  for (const list of lists) for (let i = 0; i < list.length; i++) out.push(list[i]!);
  return out;
}

/** A chat template around one user turn: `prefix` opens the conversation and the user's turn, `suffix` closes it and opens the assistant's. */
export interface ChatParts { prefix: Token[]; suffix: Token[] }

export interface EngineInfo {
  model: string;
  /** "cpu", or the GPU backend in use ("cuda", "vulkan", "metal"). */
  backend: string;
  gpuNames: string[];
  gpuLayers: number;
  totalLayers: number;
  trainContextSize: number;
  /** Why the backend differs from the one asked for (a GPU that failed here), if it does. */
  backendNote?: string;
  /** Whether node-llama-cpp's addon runs with the project's shim (shared/addonShim.ts, engine/backend/addonShim.c); absent for a server. */
  addonShim?: boolean;
  /** Whether sequences may share a prefix's cells (EngineSequence.shareFrom), so that a warm question's margins can be written on forks of the reader. */
  sharesCells?: boolean;
  /** Names everything a saved KV state depends on (model file, backend, cache settings); absent when states cannot be saved. */
  stateKey?: string;
}

export interface GenerateOptions {
  maxTokens: number;
  signal?: AbortSignal;
  /** Asked before each token: true stops generation (for "answer now"). */
  shouldStop?: () => boolean;
  /**
   * What the output is likely to copy (the segment a margin extracts from, the margins an answer
   * draws on): an engine with prompt lookup drafts its next tokens from it and checks them in one batch.
   */
  copyFrom?: TokenList;
}

/** One sequence of the engine's KV cache. */
export interface EngineSequence {
  /** Tokens now held. */
  readonly length: number;
  readonly tokens: readonly Token[];
  /** Of `length`, tokens an engine holds back until its next evaluation, which sends them in its first batch (what a timing splits off as prefill). */
  readonly heldTokens?: number;
  /**
   * Prefills tokens without generating; rejects with an AbortError between batches when aborted.
   * An engine may hold the last part batch back for its next evaluation (heldTokens); `whole`
   * evaluates everything now, for a caller whose batches another sequence's evaluation shares.
   */
  append(tokens: TokenList, signal?: AbortSignal, options?: { whole?: boolean }): Promise<void>;
  /** Appends `prompt`, then yields greedy tokens until end of generation, `maxTokens`, abort or stop. */
  generate(prompt: readonly Token[], options: GenerateOptions): AsyncGenerator<Token>;
  /** Erases everything from `length` to the end. */
  truncate(length: number): Promise<void>;
  /**
   * Appends `prompt` and returns each candidate's next-token probability relative to the other
   * candidates (the ratios are the model's; the rest of the vocabulary is left out).
   */
  nextTokenProbabilities(prompt: readonly Token[], candidates: readonly Token[]): Promise<number[]>;
  /**
   * Makes this sequence hold `source`'s first `length` tokens by sharing their cache cells, with no
   * evaluation, dropping what it held (engines that can: a local engine whose addon shim shares
   * cells). A margin written on such a fork reads exactly what the source had read, while the
   * source keeps all it holds (forkedMargins.ts).
   */
  shareFrom?(source: EngineSequence, length: number): Promise<void>;
  /** Writes the sequence's tokens and KV state to a file (engines that can). */
  saveState?(file: string): Promise<void>;
  /** About how many bytes saveState would write now (at most a little more), where the engine can say. */
  stateBytes?(): number;
  /** Replaces the sequence's contents with a state saveState wrote for the same stateKey. */
  loadState?(file: string): Promise<void>;
}

/**
 * How engines read candidates' relative probabilities: every candidate's logit is raised by this
 * much, which lifts them above the rest of the vocabulary without changing their ratios (a softmax
 * is unchanged by adding one number to every logit it compares). Far above any gap between real
 * logits (tens); small enough that float32 keeps their differences to within 1e-5.
 */
export const CANDIDATE_LIFT = 100;

export interface PrepareOptions {
  /** Tokens each sequence must be able to hold. */
  tokensPerSequence: number;
  sequences: number;
  /**
   * The first sequence may keep what it holds (its `tokens` say what), for a caller that reuses a
   * prefix it checks token by token; the others, and by default all, start empty.
   */
  keep?: boolean;
  /**
   * The most tokens each sequence after the first holds of its own (a classifier's, or a fork's
   * beyond the prefix it shares): an engine that shares cells sizes its cache as one context plus
   * that much for each, and gives those sequences shareFrom (where it cannot, they come without it).
   */
  forkTokens?: number;
  signal?: AbortSignal;
}

export interface WimEngine {
  readonly info: EngineInfo;
  /** Untrusted text (files, questions, model output) as it stands after a newline; special tokens off. */
  tokenizeText(text: string): Token[];
  detokenize(tokens: readonly Token[]): string;
  /** The model's chat template split around one user turn, with `system` as the system message. */
  chatParts(system: string): ChatParts;
  isEndOfGeneration(token: Token): boolean;
  /** Sequences with room for what a run needs, empty unless `keep`; a context that is large enough is reused. */
  prepare(options: PrepareOptions): Promise<EngineSequence[]>;
  /** Tokens the engine has evaluated since it opened (prefill and generation), for tests and benchmarks. */
  readonly evaluatedTokens: number;
  /** A server engine's running totals: prompt tokens sent, and how many the server's prefix cache served. */
  readonly reuse?: { readonly promptTokens: number; readonly cachedTokens: number };
  dispose(): Promise<void>;
}

export class ContextTooSmallError extends Error {
  override name = "ContextTooSmallError";
  /** `setting`: the option whose value makes it not fit (segmentTokens, marginTokens, answerTokens), to name it. */
  constructor(readonly needed: number, readonly available: number, detail: string, readonly setting?: string) {
    super(`the run needs ${needed.toLocaleString("en-US")} tokens of context, the model holds ${available.toLocaleString("en-US")}: ${detail}`);
  }
}

export function abortError(signal: AbortSignal | undefined): Error {
  const reason = signal?.reason;
  return reason instanceof Error ? reason : new DOMException("The run was cancelled", "AbortError");
}

export function isAbortError(err: unknown): boolean {
  return (err as Error)?.name === "AbortError";
}
