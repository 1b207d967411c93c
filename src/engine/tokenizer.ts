// The model's own tokenizer without its weights: packing and planning count tokens exactly as the
// engine will see them. Where the vocabulary allows, counts come from it alone, piece by piece
// (pieceCounter.ts), with no model load; otherwise from llama.cpp, in helper processes when large.
import type { LlamaModel } from "node-llama-cpp";
import { measureFile, type CountTokens, type MeasuredFile } from "../core/pack/packer";
import type { WorkspaceFile } from "../core/workspace/reader";
import { checkModelFile } from "./modelFile";
import { readVocabulary } from "./ggufVocab";
import { loadLlama, machineThreads } from "./llama";
import { pieceCounterFor, type PieceCounter } from "./pieceCounter";
import { TokenizerPool } from "./tokenizerPool";

export interface Tokenizer {
  /**
   * Tokens of a chunk of file text as it stands after a newline (every chunk the packer makes
   * starts a line). Special tokens are off, so text such as `</s>` never becomes a control token.
   */
  countTokens(text: string): number;
  tokenize(text: string): number[];
  /** Loads the model in this process, for tokenize (and countTokens without a piece counter). */
  ready(): Promise<void>;
  /** Starts the tokenizer processes early when this much text is coming, so their start-up overlaps reading. */
  prewarm(bytes: number): void;
  /** Measures files into pieces; without a piece counter, in child processes when there is enough text to pay for them. */
  measureFiles(files: readonly Pick<WorkspaceFile, "path" | "text" | "bytes">[], budget: number): Promise<MeasuredFile[]>;
  dispose(): Promise<void>;
}

export interface TokenizerOptions {
  /** Processes for measuring many files; 0 measures in this process. Defaults to the machine's cores. */
  workers?: number;
  /** Less text than this is measured on this thread: the workers' start-up would cost more. */
  parallelMinChars?: number;
  /**
   * Count through a PieceCounter where the vocabulary allows (default): in this process, without
   * helper processes. False tokenizes every chunk whole, for benchmarks and tests to compare.
   */
  pieces?: boolean;
}

const PARALLEL_MIN_CHARS = 2_000_000;

export async function openTokenizer(modelPath: string, options: TokenizerOptions = {}): Promise<Tokenizer> {
  await checkModelFile(modelPath);
  const processes = options.workers ?? (machineThreads() > 1 ? machineThreads() : 0);
  const minChars = options.parallelMinChars ?? PARALLEL_MIN_CHARS;
  // Where the vocabulary allows, pieces are counted here from it alone: no model load, no helpers.
  const pieces = options.pieces === false ? undefined : await piecesOf(modelPath);
  let pool: TokenizerPool | undefined;
  const startPool = (): TokenizerPool | undefined => (pool ??= processes > 0 ? new TokenizerPool(modelPath, processes) : undefined);
  let model: LlamaModel | undefined;
  let tokenizeChunk: ((text: string) => number[]) | undefined;
  // This process's copy is loaded only when a count is needed here: with the pool it may never be.
  const local = async (): Promise<(text: string) => number[]> => {
    if (!tokenizeChunk) {
      const llama = await loadLlama("cpu");
      try {
        model = await llama.loadModel({ modelPath, vocabOnly: true });
      } catch (err) {
        throw new Error(`cannot load model ${modelPath}: ${(err as Error).message}`);
      }
      tokenizeChunk = chunkTokenizer(model);
    }
    return tokenizeChunk;
  };
  if (processes === 0) await local();
  const sync = (): ((text: string) => number[]) => {
    if (!tokenizeChunk) throw new Error("tokenizer not loaded: await ready() first");
    return tokenizeChunk;
  };
  const count: CountTokens = pieces ? (text) => pieces.count(text) : (text) => sync()(text).length;
  return {
    ready: async () => { await local(); },
    countTokens: count,
    tokenize: (text) => sync()(text),
    prewarm: (bytes) => { if (!pieces && bytes >= minChars) startPool(); },
    measureFiles: async (files, budget) => {
      if (pieces) return files.map((f) => measureFile(f, budget, count));
      const usePool = files.reduce((n, f) => n + f.text.length, 0) >= minChars ? startPool() : undefined;
      if (usePool) return usePool.measure(files, budget);
      const tokenize = await local();
      return files.map((f) => measureFile(f, budget, (t) => tokenize(t).length));
    },
    dispose: async () => {
      await pool?.dispose();
      await model?.dispose();
    },
  };
}

/**
 * The model's piece counter, or undefined where its vocabulary does not allow one. A file this
 * reader cannot follow goes to node-llama-cpp too, which says what is wrong with it, if anything.
 */
async function piecesOf(modelPath: string): Promise<PieceCounter | undefined> {
  try {
    const made = pieceCounterFor(await readVocabulary(modelPath));
    return "counter" in made ? made.counter : undefined;
  } catch {
    return undefined;
  }
}

/** For a model already loaded: counts by pieces where its vocabulary allows, else by whole chunks. */
export function chunkCounter(model: Pick<LlamaModel, "fileInfo">, tokenizeChunk: (text: string) => number[]): CountTokens {
  const ggml = (model.fileInfo.metadata as { tokenizer?: { ggml?: { model?: string; tokens?: readonly string[]; scores?: readonly number[]; token_type?: readonly number[] } } }).tokenizer?.ggml;
  const made = pieceCounterFor({ model: ggml?.model ?? "unknown", tokens: ggml?.tokens ?? [], scores: ggml?.scores ?? [], types: ggml?.token_type ?? [] });
  if ("counter" in made) return (text) => made.counter.count(text);
  return (text) => tokenizeChunk(text).length;
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
