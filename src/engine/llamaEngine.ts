// The WiM engine on node-llama-cpp: one context whose sequences are the reader and the
// classifier, sized for each run and reused while it is large enough.
import { statSync } from "node:fs";
import { totalmem } from "node:os";
import { basename, resolve } from "node:path";
import type { BatchItem, GgmlType, Llama, LlamaContext, LlamaContextSequence, LlamaModel, PrioritizedBatchItem, Token as LlamaToken } from "node-llama-cpp";
import { abortError, type EngineInfo, type EngineSequence, type GenerateOptions, type PrepareOptions, type Token, type WimEngine } from "../core/wim/engine";
import { templateSplitter, type TemplateSplitter } from "./chatTemplate";
import { loadLlama, machineThreads, nodeLlamaCpp, type GpuChoice } from "./llama";
import { nodeLlamaCppVersion } from "./backendChoice";
import { checkModelFile, ModelFileError } from "./modelFile";
import { chunkTokenizer } from "./tokenizer";

export interface LlamaEngineOptions {
  modelPath: string;
  gpu?: GpuChoice;
  signal?: AbortSignal;
  /** Tokens per decode batch. */
  batchSize?: number;
  /** CPU threads; by default the machine's cores, or one for a tiny model (see defaultThreads). */
  threads?: number;
  flashAttention?: boolean;
  /** The KV cache's element type: q8_0 halves its memory (llama.cpp needs flash attention for a quantised V cache). */
  kvCacheType?: "f16" | "q8_0";
  /** Prompt-lookup decoding: draft tokens copied from the context, verified in one batch. */
  promptLookup?: boolean;
  /** GPU memory to leave free for other programs, in MiB. */
  gpuReserveMiB?: number;
  /** Shown with each run: why this backend runs rather than the one asked for. */
  backendNote?: string;
  /** Called with the tokens each sequence contributes to every decode batch. */
  onBatch?: (tokensPerItem: number[]) => void;
}

/** node-llama-cpp brands its token type; ours is a plain number. */
const asLlama = (tokens: readonly Token[]): LlamaToken[] => tokens as LlamaToken[];

/**
 * Threads when none are asked for. Measured here (2 cores): a 1.3 MB test model decoded 20x
 * slower on two threads than on one (they spin-wait against the JS thread: the work per token is
 * too small to share), while the 0.5B shape prefilled 1.8x faster on two. Tiny models get one.
 */
function defaultThreads(modelBytes: number): number {
  return modelBytes < 64 * 1024 * 1024 ? 1 : machineThreads();
}

/** Largest prefill handed to node-llama-cpp at once: an abort is noticed between these. */
const APPEND_PIECE = 2048;
const CONTEXT_STEP = 256;
/**
 * Decode batch on a GPU when none is asked for. Measured on the H200 (Vulkan, `npm run bench`,
 * 32k tokens): 2048 prefilled 6-9% faster than node-llama-cpp's default of 512 for the 0.5b and
 * 1.5b shapes, 4096 no faster than 2048. The CPU keeps the default: a larger batch only grows
 * its compute buffers there.
 */
const GPU_BATCH = 2048;

export class ContextOverflowError extends Error {
  override name = "ContextOverflowError";
}

export async function openLlamaEngine(options: LlamaEngineOptions): Promise<LlamaEngine> {
  const { bytes } = await checkModelFile(options.modelPath);
  const lib = await nodeLlamaCpp();
  const llama = await loadLlama(options.gpu ?? "auto", (options.gpuReserveMiB ?? 0) * 1048576);
  if (options.signal?.aborted) throw abortError(options.signal);
  // On the CPU llama.cpp maps the file and would read it from disk at every token: refuse instead.
  if (!llama.gpu && bytes > totalmem()) throw new ModelFileError(tooLargeForMemory(options.modelPath, bytes, bytes));
  let model: LlamaModel;
  try {
    model = await llama.loadModel({ modelPath: options.modelPath, gpuLayers: "auto", ...(options.signal ? { loadSignal: options.signal } : {}) });
  } catch (err) {
    if (options.signal?.aborted) throw abortError(options.signal);
    throw new ModelFileError(`cannot load model ${options.modelPath}: ${(err as Error).message}`);
  }
  const gpuNames = llama.gpu ? await llama.getGpuDeviceNames().catch(() => []) : [];
  const total = model.fileInsights.totalLayers;
  let backendNote = options.backendNote;
  if (llama.gpu && model.gpuLayers < total) {
    // What did not fit on the GPU runs on the CPU, from memory: it has to fit there.
    const onCpu = Math.round((bytes * (total - model.gpuLayers)) / Math.max(1, total));
    if (onCpu > totalmem()) {
      await model.dispose();
      throw new ModelFileError(tooLargeForMemory(options.modelPath, bytes, onCpu, `${model.gpuLayers} of ${total} layers fit in ${llama.gpu} memory`));
    }
    backendNote = [backendNote, `${model.gpuLayers} of ${total} layers fit in ${llama.gpu} memory (${gpuNames.join(", ") || "GPU"}); the rest run on the CPU, more slowly`].filter(Boolean).join(". ");
  }
  return new LlamaEngine(llama, model, templateSplitter(lib, model), { ...options, ...(backendNote ? { backendNote } : {}) }, gpuNames);
}

function tooLargeForMemory(path: string, modelBytes: number, cpuBytes: number, gpuPart?: string): string {
  const gib = (n: number): string => `${(n / 2 ** 30).toFixed(1)} GiB`;
  return `the model ${basename(path)} is ${gib(modelBytes)}${gpuPart ? `; ${gpuPart}, leaving ${gib(cpuBytes)} for the CPU` : ""}, more than this machine's ${gib(totalmem())} of memory: ` +
    "it would run from disk, far too slowly. Use a smaller or more quantised model" + (gpuPart ? "." : ", or a GPU with room for it.");
}

export class LlamaEngine implements WimEngine {
  readonly info: EngineInfo;
  readonly tokenizeText: (text: string) => Token[];
  evaluatedTokens = 0;
  /** Erases from the end of each sequence (index 0 is the reader): how many and how long, for the benchmark. */
  readonly erases: { count: number; totalMs: number }[] = [];
  private context?: LlamaContext;
  private sequences: LlamaContextSequence[] = [];

  constructor(
    private readonly llama: Llama,
    readonly model: LlamaModel,
    private readonly template: TemplateSplitter,
    private readonly options: LlamaEngineOptions,
    gpuNames: string[],
  ) {
    this.tokenizeText = chunkTokenizer(model);
    this.info = {
      model: basename(options.modelPath),
      backend: llama.gpu || "cpu",
      gpuNames,
      gpuLayers: model.gpuLayers,
      totalLayers: model.fileInsights.totalLayers,
      trainContextSize: model.trainContextSize,
      ...(options.backendNote ? { backendNote: options.backendNote } : {}),
      stateKey: this.stateKey(),
    };
  }

  /**
   * A saved KV state is only valid for the same model file, and only equals a fresh read when the
   * same backend and numerics computed it: batch size and flash attention change rounding on a GPU.
   */
  private stateKey(): string {
    const file = statSync(this.options.modelPath);
    return JSON.stringify({
      model: resolve(this.options.modelPath), size: file.size, mtimeMs: file.mtimeMs, backend: this.llama.gpu || "cpu", gpuLayers: this.model.gpuLayers,
      kv: this.options.kvCacheType ?? "f16", flashAttention: this.options.flashAttention ?? "auto", batchSize: this.batchSize().batchSize ?? "default",
      nodeLlamaCpp: nodeLlamaCppVersion(),
    });
  }

  get chatTemplateName(): string {
    return this.template.wrapperName;
  }

  detokenize(tokens: readonly Token[]): string {
    // Special tokens are not rendered: model output shows as text, never as control markup.
    return this.model.detokenize(asLlama(tokens), false);
  }

  chatParts(system: string): { prefix: Token[]; suffix: Token[] } {
    return this.template.parts(system);
  }

  isEndOfGeneration(token: Token): boolean {
    return this.model.isEogToken(token as LlamaToken);
  }

  async prepare({ tokensPerSequence, sequences, signal }: PrepareOptions): Promise<EngineSequence[]> {
    const size = Math.ceil(tokensPerSequence / CONTEXT_STEP) * CONTEXT_STEP;
    if (this.context && (this.context.contextSize < size || this.context.totalSequences < sequences)) {
      await this.context.dispose();
      this.context = undefined;
      this.sequences = [];
    }
    if (!this.context) {
      const observe = this.options.onBatch;
      this.context = await this.createContext(size, sequences, observe, signal);
      const { InputLookupTokenPredictor } = await nodeLlamaCpp();
      for (let i = 0; i < sequences; i++) {
        this.sequences.push(this.context.getSequence({
          ...(this.options.promptLookup && i === 0 ? { tokenPredictor: new InputLookupTokenPredictor() } : {}),
          // Never drop the start of the codebase silently: a run is sized so this cannot happen.
          contextShift: { strategy: () => { throw new ContextOverflowError("the context is full"); } },
        }));
      }
    }
    const out: EngineSequence[] = [];
    for (const [i, seq] of this.sequences.slice(0, sequences).entries()) {
      await seq.clearHistory();
      out.push(new LlamaSequence(seq, this, i));
    }
    return out;
  }

  /** A context that does not fit is refused with the sizes involved, never retried into a hang. */
  private async createContext(size: number, sequences: number, observe: LlamaEngineOptions["onBatch"], signal?: AbortSignal): Promise<LlamaContext> {
    const contextSize = Math.min(size, this.model.trainContextSize);
    try {
      return await this.model.createContext({
        contextSize,
        sequences,
        threads: this.options.threads ?? defaultThreads(this.model.size),
        ...this.batchSize(),
        ...(this.options.flashAttention !== undefined ? { flashAttention: this.options.flashAttention } : {}),
        ...this.kvCacheTypes(),
        ...(signal ? { createSignal: signal } : {}),
        batching: { itemPrioritizationStrategy: ({ items, size }) => shareBatch(items, size, observe) },
      });
    } catch (err) {
      // node-llama-cpp's InsufficientMemoryError does not set its name: compare the class.
      const { InsufficientMemoryError } = await nodeLlamaCpp();
      if (!(err instanceof InsufficientMemoryError)) throw err;
      const where = this.info.backend === "cpu" ? "memory" : `${this.info.backend} memory (${this.info.gpuNames.join(", ") || "GPU"})`;
      throw new Error(
        `a context of ${contextSize.toLocaleString("en-US")} tokens for ${sequences} sequences does not fit in ${where} beside the model: ` +
        (this.options.gpuReserveMiB
          ? `keep less GPU memory in reserve (${this.options.gpuReserveMiB.toLocaleString("en-US")} MiB now), narrow the scope, or use smaller segments`
          : "narrow the scope, use smaller segments, or fewer margin tokens"),
      );
    }
  }

  private batchSize(): { batchSize?: number } {
    if (this.options.batchSize) return { batchSize: this.options.batchSize };
    return this.llama.gpu && this.model.gpuLayers > 0 ? { batchSize: GPU_BATCH } : {};
  }

  private kvCacheTypes(): { experimentalKvCacheKeyType?: keyof typeof GgmlType; experimentalKvCacheValueType?: keyof typeof GgmlType } {
    const type = this.options.kvCacheType;
    if (!type || type === "f16") return {};
    // The option is marked experimental in node-llama-cpp 3.21: offered as a measured setting, not a default.
    const name = type.toUpperCase() as keyof typeof GgmlType;
    return { experimentalKvCacheKeyType: name, experimentalKvCacheValueType: name };
  }

  async dispose(): Promise<void> {
    await this.context?.dispose();
    await this.model.dispose();
  }

  /** For tests: a fresh context of its own, to compare a run against a single pass. */
  async freshSequence(contextSize: number): Promise<{ sequence: EngineSequence; dispose: () => Promise<void> }> {
    const context = await this.model.createContext({ contextSize, sequences: 1, threads: this.options.threads ?? defaultThreads(this.model.size), ...(this.options.batchSize ? { batchSize: this.options.batchSize } : {}) });
    return { sequence: new LlamaSequence(context.getSequence(), this), dispose: () => context.dispose() };
  }

  /** Contexts and sequences held now: one context, reused, whose sequences are reused too. */
  get holdings(): { contexts: number; sequences: number } {
    return { contexts: this.context ? 1 : 0, sequences: this.sequences.length };
  }

  /** GPU memory in use now (bytes; 0 on the CPU), for the benchmark's memory figures. */
  async gpuMemoryUsed(): Promise<number> {
    return this.llama.gpu ? (await this.llama.getVramState()).used : 0;
  }

  get gpu(): string | false {
    return this.llama.gpu;
  }

  /** The model's shape, so benchmark figures from different models are never confused. */
  get shape(): { name: string; layers: number; embedding: number; vocab: number; bytes: number; contextSize?: number; batchSize?: number; flashAttention?: boolean | "auto"; kvCacheType: string; promptLookup: boolean } {
    const arch = this.model.fileInfo.architectureMetadata as { embedding_length?: number };
    return {
      name: String(this.model.fileInfo.metadata.general?.name ?? this.info.model),
      layers: this.info.totalLayers,
      embedding: arch.embedding_length ?? 0,
      vocab: this.model.fileInfo.metadata.tokenizer?.ggml?.tokens?.length ?? 0,
      bytes: this.model.size,
      kvCacheType: this.options.kvCacheType ?? "f16",
      promptLookup: this.options.promptLookup ?? false,
      ...(this.context ? { contextSize: this.context.contextSize, batchSize: this.context.batchSize, flashAttention: this.context.flashAttention } : {}),
    };
  }
}

class LlamaSequence implements EngineSequence {
  constructor(private readonly seq: LlamaContextSequence, private readonly engine: LlamaEngine, private readonly index = -1) {}

  get length(): number {
    return this.seq.nextTokenIndex;
  }

  get tokens(): readonly Token[] {
    return this.seq.contextTokens;
  }

  async append(tokens: readonly Token[], signal?: AbortSignal): Promise<void> {
    // A piece at least one batch long, so that a large batch size is not cut down by the piece.
    const step = Math.max(APPEND_PIECE, this.seq.context.batchSize);
    for (let i = 0; i < tokens.length; i += step) {
      if (signal?.aborted) throw abortError(signal);
      const piece = tokens.slice(i, i + step);
      await this.seq.evaluateWithoutGeneratingNewTokens(asLlama(piece));
      this.engine.evaluatedTokens += piece.length;
    }
  }

  async *generate(prompt: readonly Token[], { maxTokens, signal, shouldStop }: GenerateOptions): AsyncGenerator<Token> {
    if (signal?.aborted) throw abortError(signal);
    this.engine.evaluatedTokens += prompt.length;
    let produced = 0;
    // evaluate() takes no AbortSignal: leaving the loop is how generation stops.
    for await (const token of this.seq.evaluate(asLlama(prompt), { temperature: 0 })) {
      if (this.engine.isEndOfGeneration(token)) break;
      if (produced > 0) this.engine.evaluatedTokens++;
      produced++;
      yield token;
      if (produced >= maxTokens || signal?.aborted || shouldStop?.()) break;
    }
  }

  async truncate(length: number): Promise<void> {
    const end = this.seq.nextTokenIndex;
    if (length >= end) return;
    const started = performance.now();
    await this.seq.eraseContextTokenRanges([{ start: length, end }]);
    if (this.index >= 0) {
      const stat = (this.engine.erases[this.index] ??= { count: 0, totalMs: 0 });
      stat.count++;
      stat.totalMs += performance.now() - started;
    }
  }

  async saveState(file: string): Promise<void> {
    await this.seq.saveStateToFile(file);
  }

  async loadState(file: string): Promise<void> {
    // The risk node-llama-cpp names is a state from another model; the cache keys entries by the
    // model file (stateKey) and the session checks the loaded tokens before using them.
    await this.seq.loadStateFromFile(file, { acceptRisk: true });
  }

  async nextTokenProbabilities(prompt: readonly Token[], candidates: readonly Token[]): Promise<number[]> {
    if (!prompt.length) throw new Error("nextTokenProbabilities needs a prompt");
    const last = prompt[prompt.length - 1]!;
    const result = await this.seq.controlledEvaluate([...prompt.slice(0, -1), [last, { generateNext: { probabilities: true } }]] as never);
    this.engine.evaluatedTokens += prompt.length;
    const probabilities = result[result.length - 1]?.next?.probabilities;
    return candidates.map((c) => probabilities?.get(c as LlamaToken) ?? 0);
  }
}

/**
 * Each pending evaluation (one per sequence) gets an even share of the batch, the rest goes to
 * whoever needs more: a classification rides along with a prefill instead of waiting for it.
 */
function shareBatch(items: readonly BatchItem[], size: number, observe?: (tokensPerItem: number[]) => void): PrioritizedBatchItem[] {
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
