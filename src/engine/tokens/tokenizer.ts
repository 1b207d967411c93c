// The model's own tokenizer without its weights: planning counts and tokenizes exactly as the
// engine will. Where the vocabulary allows, tokens come from it alone, piece by piece
// (pieceCounter.ts), with no model load; otherwise from llama.cpp, in helper processes when large.
import type { LlamaModel } from "node-llama-cpp";
import { measureFile, type ChunkTokenizer, type MeasuredFile } from "../../core/pack/packer";
import type { WorkspaceFile } from "../../core/workspace/reader";
import { checkModelFile } from "../model/modelFile";
import { readVocabulary, vocabularyOf } from "./ggufVocab";
import { loadLlama, machineThreads } from "../llama/runtime";
import { bpeTokenizer } from "./bpePieces";
import { countingFor } from "./pieceCounter";
import { TokenizerPool } from "./tokenizerPool";

export interface Tokenizer {
  /**
   * Tokens of a chunk of file text as it stands after a newline (every chunk the packer makes
   * starts a line). Special tokens are off, so text such as `</s>` never becomes a control token.
   */
  countTokens(text: string): number;
  /** Counts a prompt's tokens (not file text: left out of tokenizedChars, which says how often the codebase was gone over). */
  countPrompt(text: string): number;
  /** The chunk's tokens (loads the model in this process first unless the vocabulary alone tokenizes: see ready()). */
  tokenize(text: string): Int32Array;
  /** Loads the model in this process, for tokenize (and countTokens without a piece counter). */
  ready(): Promise<void>;
  /** Starts the tokenizer processes early when this much text is coming, so their start-up overlaps reading. */
  prewarm(bytes: number): void;
  /**
   * Measures files into pieces, keeping each chunk's tokens when `keepTokens`; without a piece
   * counter, in child processes when there is enough text to pay for them.
   */
  measureFiles(files: readonly Pick<WorkspaceFile, "path" | "text" | "bytes">[], budget: number, keepTokens?: boolean): Promise<MeasuredFile[]>;
  /** Characters counted or tokenized since it opened: how often planning went over the codebase. */
  readonly tokenizedChars: number;
  /** The context the model was trained for, from its metadata (undefined when the file does not say). */
  readonly contextLength: number | undefined;
  dispose(): Promise<void>;
}

export interface TokenizerOptions {
  /** Processes for measuring many files; 0 measures in this process. Defaults to the machine's cores. */
  workers?: number;
  /** Less text than this is measured on this thread: the workers' start-up would cost more. */
  parallelMinChars?: number;
  /**
   * Tokenize by pieces where the vocabulary allows (default): in this process, without helper
   * processes. False tokenizes every chunk whole, for benchmarks and tests to compare.
   */
  pieces?: boolean;
  /** Only counts are wanted (`pack`): tokenize() is then not offered, and pieces keep no tokens. */
  countOnly?: boolean;
}

const PARALLEL_MIN_CHARS = 2_000_000;

export async function openTokenizer(modelPath: string, options: TokenizerOptions = {}): Promise<Tokenizer> {
  await checkModelFile(modelPath);
  const processes = options.workers ?? (machineThreads() > 1 ? machineThreads() : 0);
  const minChars = options.parallelMinChars ?? PARALLEL_MIN_CHARS;
  // By pieces, in this process: from the vocabulary alone (SentencePiece), or with this process's
  // copy of the model tokenizing each distinct piece (BPE). Otherwise whole chunks, in helpers.
  const countOnly = options.countOnly ?? false;
  // A file this reader cannot follow goes to node-llama-cpp, which says what is wrong with it, if anything.
  const vocab = await readVocabulary(modelPath).catch(() => undefined);
  const counting = options.pieces === false || !vocab ? undefined : countingFor(vocab, countOnly);
  const spm = counting && "spm" in counting ? counting.spm : undefined;
  const byPieces = counting !== undefined && !("why" in counting);
  let pool: TokenizerPool | undefined;
  const startPool = (): TokenizerPool | undefined => (pool ??= processes > 0 ? new TokenizerPool(modelPath, processes) : undefined);
  let model: LlamaModel | undefined;
  let loaded: ChunkTokenizer | undefined;
  let loading: Promise<ChunkTokenizer> | undefined;
  // This process's copy is loaded only when needed here: with SentencePiece or the pool it may never be.
  const local = (): Promise<ChunkTokenizer> => (loading ??= (async () => {
    const llama = await loadLlama("cpu");
    try {
      model = await llama.loadModel({ modelPath, vocabOnly: true });
    } catch (err) {
      throw new Error(`cannot load model ${modelPath}: ${(err as Error).message}`);
    }
    loaded = tokenizingWith(counting, model, chunkTokenizer(model), countOnly);
    return loaded;
  })());
  if (processes === 0 && !spm) await local();
  const sync = (): ChunkTokenizer => {
    if (spm) return spm;
    if (!loaded) throw new Error("tokenizer not loaded: await ready() first");
    return loaded;
  };
  let chars = 0;
  const counted: ChunkTokenizer = {
    count: (text) => { chars += text.length; return sync().count(text); },
    tokens: (text) => { chars += text.length; return sync().tokens(text); },
  };
  return {
    ready: async () => { if (!spm) await local(); },
    countTokens: counted.count,
    countPrompt: (text) => sync().count(text),
    tokenize: counted.tokens,
    get tokenizedChars() { return chars + (pool?.tokenizedChars ?? 0); },
    contextLength: vocab?.contextLength,
    prewarm: (bytes) => {
      if (spm || bytes < minChars) return;
      if (byPieces) void local().catch(() => undefined);
      else startPool();
    },
    measureFiles: async (files, budget, keepTokens = false) => {
      const usePool = !byPieces && files.reduce((n, f) => n + f.text.length, 0) >= minChars ? startPool() : undefined;
      if (usePool) return usePool.measure(files, budget, keepTokens);
      if (!spm) await local();
      return files.map((f) => measureFile(f, budget, counted.count, keepTokens ? counted.tokens : undefined));
    },
    dispose: async () => {
      await pool?.dispose();
      await loading?.catch(() => undefined);
      await model?.dispose();
    },
  };
}

/** For a model already loaded: by pieces where its vocabulary allows, else by whole chunks. */
export function chunkTokens(model: Pick<LlamaModel, "fileInfo" | "tokenize">, tokenizeChunk: (text: string) => number[]): ChunkTokenizer {
  const metadata = model.fileInfo.metadata as unknown as Record<string, unknown>;
  const get = (key: string): unknown => key.split(".").reduce<unknown>((at, part) => (at as Record<string, unknown> | undefined)?.[part], metadata);
  return tokenizingWith(countingFor(vocabularyOf(get)), model, tokenizeChunk);
}

/** The tokens a way of tokenizing (none: whole chunks) makes with this model's tokenizer. */
function tokenizingWith(counting: ReturnType<typeof countingFor> | undefined, model: Pick<LlamaModel, "tokenize">, tokenizeChunk: (text: string) => number[], countOnly = false): ChunkTokenizer {
  if (counting && "spm" in counting) {
    const spm = counting.spm;
    return { count: (text) => spm.count(text), tokens: (text) => spm.tokens(text) };
  }
  if (counting && "bpe" in counting) return bpeTokenizer(model, tokenizeChunk, counting.bpe, counting.userDefined, countOnly);
  return { count: (text) => tokenizeChunk(text).length, tokens: (text) => Int32Array.from(tokenizeChunk(text)) };
}

/**
 * Tokenizes text as a continuation after a newline: "\n" + text, less the newline's own tokens.
 * This drops the leading space SentencePiece tokenizers add to the start of any input, so chunks
 * placed one after another read as the file did. Where the newline merges into the text (some
 * BPE vocabularies join it with indentation), the text is tokenized alone: the engine uses this
 * same function, so the packer's counts stay exact either way.
 */
export function chunkTokenizer(model: Pick<LlamaModel, "tokenize">): (text: string) => number[] {
  const newline = Array.from(model.tokenize("\n", false));
  return (text) => {
    const tokens = model.tokenize("\n" + text, false);
    if (newline.every((t, i) => tokens[i] === t)) return Array.from(tokens.slice(newline.length));
    return Array.from(model.tokenize(text, false));
  };
}
