// The WiM engine on node-llama-cpp: one context whose sequences are the reader and the
// classifier, sized for each run and reused while it is large enough.
import { statSync } from "node:fs";
import { totalmem } from "node:os";
import { basename, resolve } from "node:path";
import type { GgmlType, Llama, LlamaContext, LlamaContextSequence, LlamaModel, TokenBias } from "node-llama-cpp";
import { addonShimLoaded, forksWanted, shimWants } from "../../shared/addonShim";
import { abortError, type EngineInfo, type EngineSequence, type PrepareOptions, type Token, type WimEngine } from "../../core/wim/engine";
import { loadLlama, machineThreads, nodeLlamaCpp, type GpuChoice } from "./runtime";
import { nodeLlamaCppVersion } from "../backend/backendChoice";
import { checkModelFile, ModelFileError } from "../model/modelFile";
import { ModelText } from "../model/modelText";
import { gpuNeedOf, layersThatFit } from "./gpuFit";
import { LlamaSequence, shareBatch, sharesCells } from "./llamaSequence";
import { holdsTokensInPlace, keepTokensInPlace, tokensInPlaceWanted } from "./tokensInPlace";
import { AwakeLoop, awakeLoopWanted } from "./awakeLoop";
import { decodeAheadWanted, settleDecodeAhead } from "./decodeAhead";
import { withSharedCells } from "./forks";
import { formatBytes } from "../../core/bytes";

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

/**
 * Threads when none are asked for. Measured here (2 cores): a 1.3 MB test model decoded 20x
 * slower on two threads than on one (they spin-wait against the JS thread: the work per token is
 * too small to share), while the 0.5B shape prefilled 1.8x faster on two. Tiny models get one.
 */
function defaultThreads(modelBytes: number): number {
  return modelBytes < 64 * 1024 * 1024 ? 1 : machineThreads();
}

/** A sequence whose tokens node-llama-cpp no longer copies on every decode (see tokensInPlace.ts). */
function inPlace(sequence: LlamaContextSequence): LlamaContextSequence {
  if (tokensInPlaceWanted()) keepTokensInPlace(sequence);
  return sequence;
}

const CONTEXT_STEP = 256;
/** The step the other sequences' own room (PrepareOptions.forkTokens) is rounded up to. */
const SIDE_STEP = 1024;
/**
 * Decode batch on a GPU when none is asked for. Measured on the H200 (Vulkan, `npm run bench`,
 * 32k tokens): 2048 prefilled 6-9% faster than node-llama-cpp's default of 512 for the 0.5b and
 * 1.5b shapes, 4096 no faster than 2048. The CPU keeps the default: a larger batch only grows
 * its compute buffers there. 1024 makes WiM's stop after each segment 35-45% cheaper (llama.cpp's
 * KQ mask, filled on the CPU for every batch, grows with the batch's square) but steady prefill
 * 5-10% slower on CUDA and on the 1.5b; the models offered to GPUs are 1.5B and up (README, "What a
 * decode is made of"). Small batches only after a stop (a ramp) were slower on CUDA twice.
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
  let offloadNote: string | undefined;
  if (llama.gpu && model.gpuLayers < total) {
    // What did not fit on the GPU runs on the CPU, from memory: it has to fit there.
    const onCpu = cpuPart(bytes, total, model.gpuLayers);
    if (onCpu > totalmem()) {
      await model.dispose();
      throw new ModelFileError(tooLargeForMemory(options.modelPath, bytes, onCpu, `${model.gpuLayers} of ${total} layers fit in ${llama.gpu} memory`));
    }
    offloadNote = `${model.gpuLayers} of ${total} layers fit in ${llama.gpu} memory (${gpuNames.join(", ") || "GPU"}); the rest run on the CPU, more slowly`;
  }
  return new LlamaEngine(lib, llama, model, options, gpuNames, offloadNote);
}

/** The bytes of a model's weights that stay on the CPU when `gpuLayers` of its `total` layers are offloaded. */
function cpuPart(bytes: number, total: number, gpuLayers: number): number {
  return Math.round((bytes * (total - gpuLayers)) / Math.max(1, total));
}

function tooLargeForMemory(path: string, modelBytes: number, cpuBytes: number, gpuPart?: string): string {
  return `the model ${basename(path)} is ${formatBytes(modelBytes)}${gpuPart ? `; ${gpuPart}, leaving ${formatBytes(cpuBytes)} for the CPU` : ""}, more than this machine's ${formatBytes(totalmem())} of memory: ` +
    "it would run from disk, far too slowly. Use a smaller or more quantised model" + (gpuPart ? "." : ", or a GPU with room for it.");
}

export class LlamaEngine implements WimEngine {
  info: EngineInfo;
  private text: ModelText;
  evaluatedTokens = 0;
  /** Saved states loaded into a sequence, for tests and benchmarks. */
  stateLoads = 0;
  /** Erases from the end of each sequence (index 0 is the reader): how many and how long, for the benchmark. */
  readonly erases: { count: number; totalMs: number }[] = [];
  private context?: LlamaContext;
  /** The context's cache, in tokens: one context per sequence, or one plus its forks' own (prepare). */
  private cells = 0;
  private sequences: LlamaContextSequence[] = [];
  /** The sequences as the core sees them, kept with the context: what an append held back stays with its sequence across runs. */
  private wrapped: LlamaSequence[] = [];
  /** Polls the event loop while tokens are generated, where the whole model is on a GPU (awakeLoop.ts). */
  readonly awakeLoop = new AwakeLoop();
  private awakeWanted = false;
  /** The addon shim decodes each generated token ahead (decodeAhead.ts), where the whole model is on a GPU. */
  private aheadWanted = false;

  get modelPath(): string {
    return this.options.modelPath;
  }

  constructor(
    private readonly lib: typeof import("node-llama-cpp"),
    private readonly llama: Llama,
    private model: LlamaModel,
    private readonly options: LlamaEngineOptions,
    gpuNames: string[],
    offloadNote?: string,
  ) {
    this.text = new ModelText(lib, model);
    this.info = {
      model: basename(options.modelPath),
      backend: llama.gpu || "cpu",
      gpuNames,
      gpuLayers: model.gpuLayers,
      totalLayers: model.fileInsights.totalLayers,
      trainContextSize: model.trainContextSize,
      ...(process.platform === "linux" ? { addonShim: addonShimLoaded() } : {}),
      ...this.notes(offloadNote),
      stateKey: this.stateKey(),
    };
    this.settleGpuOnly();
  }

  /**
   * Whether tokens keep the loop awake and are decoded ahead: read once per model load, since
   * gpuLayers can change (offloadFewerLayers), and before the contexts the shim reads it for.
   */
  private settleGpuOnly(): void {
    const { backend, gpuLayers, totalLayers } = this.info;
    this.awakeWanted = awakeLoopWanted(process.env, backend, gpuLayers, totalLayers);
    this.aheadWanted = decodeAheadWanted(process.env, backend, gpuLayers, totalLayers);
    settleDecodeAhead(process.env, this.aheadWanted);
    // Checked again where a context is made (sharesCells): the shim may fail to make one unified.
    if (addonShimLoaded() && shimWants("share") && forksWanted(process.env)) this.info.sharesCells = true;
    else delete this.info.sharesCells;
  }

  tokenComing(): void {
    if (this.awakeWanted) this.awakeLoop.touch();
  }

  /** Why the backend is the one it is (from the backend choice), then how much of the model is on the GPU. */
  private notes(offload?: string): { backendNote?: string } {
    const note = [this.options.backendNote, offload].filter(Boolean).join(". ");
    return note ? { backendNote: note } : {};
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

  get tokenizeText(): (text: string) => Token[] {
    return this.text.tokenizeText;
  }

  get countText(): (text: string) => number {
    return this.text.countText;
  }

  detokenize(tokens: readonly Token[]): string {
    return this.text.detokenize(tokens);
  }

  chatParts(system: string): { prefix: Token[]; suffix: Token[] } {
    return this.text.chatParts(system);
  }

  newTokenBias(): TokenBias {
    return new this.lib.TokenBias(this.model.tokenizer);
  }

  isEndOfGeneration(token: Token): boolean {
    return this.text.isEndOfGeneration(token);
  }

  async prepare({ tokensPerSequence, sequences, keep, forkTokens, signal }: PrepareOptions): Promise<EngineSequence[]> {
    const size = Math.ceil(tokensPerSequence / CONTEXT_STEP) * CONTEXT_STEP;
    // With forks, the cache a context that shares cells needs: one context, and each fork's own tokens.
    // Rounded up, so that questions a few tokens apart reuse one context rather than make another.
    const cells = forkTokens !== undefined && sequences > 1 ? size + Math.ceil(((sequences - 1) * forkTokens) / SIDE_STEP) * SIDE_STEP : size * sequences;
    if (this.context && (this.context.contextSize < size || this.context.totalSequences < sequences || this.cells < cells)) {
      await this.context.dispose();
      this.context = undefined;
      this.sequences = [];
      this.wrapped = [];
    }
    if (!this.context) {
      const observe = this.options.onBatch;
      this.context = await this.createContext(size, sequences, observe, signal, forkTokens !== undefined ? cells : undefined);
      // Only the shim answers the probe: llama.cpp itself would abort on its sequence number.
      const shares = sequences > 1 && forkTokens !== undefined && addonShimLoaded() && sharesCells(this.context);
      this.cells = shares ? cells : size * sequences;
      const { InputLookupTokenPredictor } = this.lib;
      for (let i = 0; i < sequences; i++) {
        const seq = inPlace(this.context.getSequence({
          ...(this.options.promptLookup && i === 0 ? { tokenPredictor: new InputLookupTokenPredictor() } : {}),
          // Never drop the start of the codebase silently: a run is sized so this cannot happen.
          contextShift: { strategy: () => { throw new ContextOverflowError("the context is full"); } },
        }));
        this.sequences.push(seq);
        const wrapped = new LlamaSequence(seq, this, i);
        if (shares && i > 0) wrapped.allowSharing();
        this.wrapped.push(wrapped);
      }
    }
    // Every sequence, asked for or not: one left holding a shared prefix would keep its cells taken.
    for (const [i, wrapped] of this.wrapped.entries()) if (!(keep && i === 0)) await wrapped.clear();
    return this.wrapped.slice(0, sequences);
  }

  /**
   * A context that does not fit beside the model's GPU layers gets fewer of them (see gpuFit.ts);
   * one that fits nowhere is refused with the sizes involved, never retried into a hang.
   */
  private async createContext(size: number, sequences: number, observe: LlamaEngineOptions["onBatch"], signal?: AbortSignal, sharedCells?: number): Promise<LlamaContext> {
    const contextSize = Math.min(size, this.model.trainContextSize);
    const create = (): Promise<LlamaContext> => withSharedCells(sharedCells, () => this.model.createContext({
      contextSize,
      sequences,
      threads: this.options.threads ?? defaultThreads(this.model.size),
      ...this.batchSize(),
      ...(this.options.flashAttention !== undefined ? { flashAttention: this.options.flashAttention } : {}),
      ...this.kvCacheTypes(),
      ...(signal ? { createSignal: signal } : {}),
      batching: { itemPrioritizationStrategy: ({ items, size }) => shareBatch(items, size, observe) },
    }));
    // node-llama-cpp's InsufficientMemoryError does not set its name: compare the class.
    const { InsufficientMemoryError } = this.lib;
    try {
      return await create();
    } catch (err) {
      if (!(err instanceof InsufficientMemoryError)) throw err;
    }
    try {
      if (await this.offloadFewerLayers(contextSize, sequences)) return await create();
    } catch (err) {
      if (!(err instanceof InsufficientMemoryError)) throw err;
    }
    const where = this.info.backend === "cpu" ? "memory" : `${this.info.backend} memory (${this.info.gpuNames.join(", ") || "GPU"})`;
    throw new Error(
      `a context of ${contextSize.toLocaleString("en-US")} tokens for ${sequences} sequences does not fit in ${where} beside the model: ` +
      (this.options.gpuReserveMiB
        ? `keep less GPU memory in reserve (${this.options.gpuReserveMiB.toLocaleString("en-US")} MiB now), narrow the scope, or use smaller segments`
        : "narrow the scope, use smaller segments, or fewer margin tokens"),
    );
  }

  /**
   * Reloads the model with as many GPU layers as leave room for this context; false when even one
   * layer would not. The layers stay fewer for later questions: the next engine (new settings, a
   * restart) starts from "auto" again.
   */
  private async offloadFewerLayers(contextSize: number, sequences: number): Promise<boolean> {
    const before = this.model.gpuLayers;
    if (!this.llama.gpu || before === 0) return false;
    const insights = this.model.fileInsights;
    // What the device has free, less the padding node-llama-cpp keeps (our reserve), plus what the
    // layers now loaded hold and would give back.
    const held = (await insights.estimateModelResourceRequirementsV2({ gpuLayers: before })).gpuVram;
    const available = (await this.llama.getVramState()).free - this.llama.vramPaddingSize + held;
    const need = gpuNeedOf(insights, { contextSize, sequences, batchSize: this.options.batchSize ?? GPU_BATCH, ...(this.options.flashAttention !== undefined ? { flashAttention: this.options.flashAttention } : {}) });
    const layers = await layersThatFit(need, available, before);
    // What leaves the GPU runs on the CPU from memory; more than there is would run from disk.
    if (layers === 0 || cpuPart(this.model.size, this.info.totalLayers, layers) > totalmem()) return false;
    await this.model.dispose();
    // Not cancellable: an engine without weights could serve nothing, and a load takes seconds.
    try {
      this.model = await this.llama.loadModel({ modelPath: this.options.modelPath, gpuLayers: layers });
    } catch (err) {
      this.model = await this.llama.loadModel({ modelPath: this.options.modelPath, gpuLayers: before });
      throw new ModelFileError(`cannot reload ${basename(this.options.modelPath)} with ${layers} of ${this.info.totalLayers} layers on the GPU: ${(err as Error).message}`);
    }
    this.text = new ModelText(this.lib, this.model);
    const total = this.info.totalLayers;
    const note = `${layers} of ${total} layers run on the GPU (${this.llama.gpu}), the rest on the CPU, more slowly: ` +
      `a context of ${contextSize.toLocaleString("en-US")} tokens did not fit in its memory beside ${before}`;
    this.info = { ...this.info, gpuLayers: this.model.gpuLayers, ...this.notes(note) };
    this.info.stateKey = this.stateKey();
    this.settleGpuOnly();
    return true;
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
    this.awakeLoop.stop();
    await this.context?.dispose();
    await this.model.dispose();
  }

  /** For tests: a fresh context of its own, to compare a run against a single pass. */
  async freshSequence(contextSize: number): Promise<{ sequence: EngineSequence; dispose: () => Promise<void> }> {
    const context = await this.model.createContext({ contextSize, sequences: 1, threads: this.options.threads ?? defaultThreads(this.model.size), ...(this.options.batchSize ? { batchSize: this.options.batchSize } : {}) });
    return { sequence: new LlamaSequence(inPlace(context.getSequence()), this), dispose: () => context.dispose() };
  }

  /** Prompt lookup's drafted tokens so far, kept and refuted (node-llama-cpp's counts over the engine's sequences), for the benchmark. */
  predictions(): { used: number; refuted: number } {
    return this.sequences.reduce((n, s) => ({ used: n.used + s.tokenPredictions.used, refuted: n.refuted + s.tokenPredictions.refuted }), { used: 0, refuted: 0 });
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
  get shape(): { name: string; layers: number; embedding: number; vocab: number; bytes: number; contextSize?: number; batchSize?: number; flashAttention?: boolean | "auto"; kvCacheType: string; promptLookup: boolean; tokensInPlace: boolean; awakeLoop: boolean; decodeAhead: boolean } {
    const arch = this.model.fileInfo.architectureMetadata as { embedding_length?: number };
    return {
      name: String(this.model.fileInfo.metadata.general?.name ?? this.info.model),
      layers: this.info.totalLayers,
      embedding: arch.embedding_length ?? 0,
      vocab: this.model.fileInfo.metadata.tokenizer?.ggml?.tokens?.length ?? 0,
      bytes: this.model.size,
      kvCacheType: this.options.kvCacheType ?? "f16",
      promptLookup: this.options.promptLookup ?? false,
      tokensInPlace: this.sequences.some(holdsTokensInPlace),
      awakeLoop: this.awakeWanted,
      // Only the shim decodes ahead: without it (another platform, ASK_CODEBASE_ADDON_SHIM=off) nothing does.
      decodeAhead: this.aheadWanted && this.info.addonShim === true,
      ...(this.context ? { contextSize: this.context.contextSize, batchSize: this.context.batchSize, flashAttention: this.context.flashAttention } : {}),
    };
  }
}
