// Llama-architecture models with seeded random weights and a SentencePiece-style vocabulary.
// "tiny" is for tests (about 1 MB, loads in a blink); the others have the shapes of real small
// models so speed can be measured. Random weights say nothing about quality.
import { TensorType, ValueType, tensorBytes, writeGguf, type MetaValue, type TensorSpec } from "./gguf";

export interface ModelShape {
  layers: number; embd: number; heads: number; kvHeads: number; ffn: number;
  vocab: number; context: number; type: TensorType;
}

export const SHAPES = {
  tiny: { layers: 2, embd: 64, heads: 4, kvHeads: 2, ffn: 128, vocab: 2048, context: 32768, type: TensorType.F32 },
  "0.5b": { layers: 24, embd: 896, heads: 14, kvHeads: 2, ffn: 4864, vocab: 32000, context: 32768, type: TensorType.Q8_0 },
  "1.5b": { layers: 28, embd: 1536, heads: 12, kvHeads: 2, ffn: 8960, vocab: 32000, context: 32768, type: TensorType.Q8_0 },
  /** The answer-fidelity model's shape (bench/fidelity): trained, not random, when written with weights. */
  fidelity: { layers: 6, embd: 256, heads: 4, kvHeads: 4, ffn: 768, vocab: 4096, context: 8192, type: TensorType.Q8_0 },
} satisfies Record<string, ModelShape>;
export type ShapeName = keyof typeof SHAPES;

export const CHATML_TEMPLATE =
  "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

/** Control tokens the vocabulary carries, so tests can prove file text never becomes one. */
export const SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<|im_start|>", "<|im_end|>", "<|eot_id|>"] as const;

const KEYWORDS = (
  "function return const let var if else for while import export from class interface type async await new this " +
  "true false null undefined string number boolean void public private static extends implements default case " +
  "switch break continue try catch finally throw the and of to in is that it with as be on not are or by at " +
  "def self print lambda yield struct impl pub fn mut use mod match enum package main func go error nil int char " +
  "include define error value name file path data result test index length config model token segment margin"
).split(" ");

/** Deterministic SentencePiece pieces: every prefix of every piece is itself a piece, so merges reach it. */
export function buildVocab(size: number, byteTokens: "byte" | "control" = "byte", script: readonly string[] = []): { tokens: string[]; scores: number[]; types: number[] } {
  const tokens: string[] = [];
  const types: number[] = [];
  const seen = new Set<string>();
  const add = (t: string, type: number): void => {
    if (tokens.length >= size || seen.has(t)) return;
    seen.add(t); tokens.push(t); types.push(type);
  };
  for (const s of SPECIAL_TOKENS) add(s, s === "<unk>" ? 2 : 3);
  for (let b = 0; b < 256; b++) add(`<0x${b.toString(16).toUpperCase().padStart(2, "0")}>`, byteTokens === "byte" ? 6 : 3);
  // Whole pieces without their prefixes: no merge of file text reaches them, only generation does.
  for (const piece of script) add(piece.replaceAll(" ", "▁"), 1);
  const addWithPrefixes = (piece: string): void => { for (let i = 1; i <= piece.length; i++) add(piece.slice(0, i), 1); };
  add("▁", 1);
  for (let c = 33; c < 127; c++) { add(String.fromCharCode(c), 1); add("▁" + String.fromCharCode(c), 1); }
  for (const n of [2, 3, 4, 8]) add("▁".repeat(n), 1);
  for (const w of KEYWORDS) { addWithPrefixes("▁" + w); addWithPrefixes(w); }
  const letters = "etaoinshrdlcumwfgypbvkjxqz";
  for (const a of letters) for (const b of letters) { add(a + b, 1); add("▁" + a + b, 1); }
  outer: for (const a of letters) for (const b of letters) for (const c of letters) {
    if (tokens.length >= size) break outer;
    add(a + b + c, 1); add("▁" + a + b + c, 1);
  }
  for (let i = 0; tokens.length < size; i++) add(`▁x${i}`, 1);
  // Longer pieces score higher so the merge loop prefers whole words over fragments.
  const scores = tokens.map((t, i) => (types[i] === 1 ? t.length - i * 1e-6 : 0));
  return { tokens, scores, types };
}

/** GPT-2's byte-level alphabet: each byte as a printable character (a space is "Ġ", a newline "Ċ"). */
function byteChars(): string[] {
  const printable = (b: number): boolean => (b >= 33 && b <= 126) || (b >= 161 && b <= 172) || (b >= 174 && b <= 255);
  let shifted = 0;
  return Array.from({ length: 256 }, (_, b) => String.fromCodePoint(printable(b) ? b : 256 + shifted++));
}

/**
 * A byte-level BPE vocabulary as Qwen2's GGUF files carry one (tokenizer "gpt2", pre-tokenizer
 * "qwen2"): the 256 byte characters, then one token per merge, building code words, their
 * space-led forms, indentation and newline runs left to right; then control tokens and one
 * user-defined token, which llama.cpp splits out of file text even with special tokens off.
 */
export function buildBpeVocab(size: number): { tokens: string[]; types: number[]; merges: string[] } {
  const bytes = byteChars();
  const encode = (text: string): string[] => [...Buffer.from(text, "utf8")].map((b) => bytes[b]!);
  const tokens = [...bytes];
  const types = tokens.map(() => 1);
  const merges: string[] = [];
  const seen = new Set(tokens);
  const room = size - BPE_SPECIAL.length;
  const addWord = (word: string): void => {
    const chars = encode(word);
    let built = chars[0]!;
    for (const c of chars.slice(1)) {
      const joined = built + c;
      if (!seen.has(joined) && tokens.length < room) {
        seen.add(joined); tokens.push(joined); types.push(1); merges.push(`${built} ${c}`);
      }
      if (!seen.has(joined)) return;
      built = joined;
    }
  };
  for (const w of ["  ", "    ", "        ", "\t\t", "\n\n", "\n    ", "}\n", ");\n", ":\n", "()", "];", "=="]) addWord(w);
  // Digit runs, which Llama 3's pre-tokenizer keeps together three at a time and Qwen2's splits.
  for (const w of ["123", "2024", "00", "45"]) addWord(w);
  // Words with letters outside ASCII, so that a cut beside one would show.
  for (const w of ["naïve", " naïve", "café", " café", "über", "日本語", "théâtre"]) addWord(w);
  for (const w of KEYWORDS) { addWord(w); addWord(" " + w); addWord(w.charAt(0).toUpperCase() + w.slice(1)); }
  const letters = "etaoinshrdlcumwfgypbvkjxqz";
  for (const a of letters) for (const b of letters) { addWord(a + b); addWord(" " + a + b); }
  for (const [text, type] of BPE_SPECIAL) { tokens.push(text); types.push(type); }
  return { tokens, types, merges };
}

const BPE_SPECIAL: [string, number][] = [["<|endoftext|>", 3], ["<|im_start|>", 3], ["<|im_end|>", 3], ["<tool_call>", 4]];

/** mulberry32: a tiny seeded PRNG; Math.random cannot be seeded and the weights must be reproducible. */
export function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function fillRandom(type: TensorType, elements: number, std: number, next: () => number): Buffer {
  if (type === TensorType.F32) {
    const f = new Float32Array(elements);
    for (let i = 0; i < elements; i++) f[i] = (next() * 2 - 1) * std * Math.sqrt(3);
    return Buffer.from(f.buffer);
  }
  if (type === TensorType.Q8_0) {
    const blocks = elements / 32;
    const buf = Buffer.alloc(blocks * 34);
    // Uniform int8 in [-127, 127] has std 127/sqrt(3); the block scale brings it to `std`.
    const scale = (std * Math.sqrt(3)) / 127;
    const half = f32ToF16(scale);
    for (let b = 0; b < blocks; b++) {
      const o = b * 34;
      buf.writeUInt16LE(half, o);
      for (let i = 0; i < 32; i++) buf.writeInt8(Math.floor(next() * 255) - 127, o + 2 + i);
    }
    return buf;
  }
  throw new Error(`unsupported random tensor type ${type}`);
}

/**
 * Trained weights in the file's type, rounded as llama.cpp's reference quantizers round: blocks of
 * 32 with an f16 scale each, Q8_0 as int8, Q4_0 as 4 bits (a trained model small enough to keep).
 */
function encodeWeights(type: TensorType, data: Float32Array): Buffer {
  if (type === TensorType.F32) return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  if (type === TensorType.Q4_0) return encodeQ4_0(data);
  if (type !== TensorType.Q8_0) throw new Error(`unsupported weight type ${type}`);
  const blocks = data.length / 32;
  const buf = Buffer.alloc(blocks * 34);
  for (let b = 0; b < blocks; b++) {
    let amax = 0;
    for (let i = 0; i < 32; i++) amax = Math.max(amax, Math.abs(data[b * 32 + i]!));
    const d = amax / 127;
    const o = b * 34;
    buf.writeUInt16LE(f32ToF16(d), o);
    for (let i = 0; i < 32; i++) buf.writeInt8(d ? Math.round(data[b * 32 + i]! / d) : 0, o + 2 + i);
  }
  return buf;
}

/**
 * Q4_0: the scale maps the block's largest magnitude, sign and all, to -8, so it keeps its full
 * precision; codes are value/scale + 8 in 0..15. Byte j holds element j in its low nibble and
 * element j + 16 in its high one (ggml's order, not neighbours).
 */
function encodeQ4_0(data: Float32Array): Buffer {
  const blocks = data.length / 32;
  const buf = Buffer.alloc(blocks * 18);
  for (let b = 0; b < blocks; b++) {
    let max = 0;
    for (let i = 0; i < 32; i++) { const v = data[b * 32 + i]!; if (Math.abs(v) > Math.abs(max)) max = v; }
    const d = max / -8;
    const inv = d ? 1 / d : 0;
    const code = (v: number): number => Math.min(15, Math.trunc(v * inv + 8.5));
    const o = b * 18;
    buf.writeUInt16LE(f32ToF16(d), o);
    for (let j = 0; j < 16; j++) buf[o + 2 + j] = code(data[b * 32 + j]!) | (code(data[b * 32 + 16 + j]!) << 4);
  }
  return buf;
}

export function f32ToF16(v: number): number {
  const f = new Float32Array([v]);
  const x = new Uint32Array(f.buffer)[0]!;
  const sign = (x >>> 16) & 0x8000;
  const exp = ((x >>> 23) & 0xff) - 127 + 15;
  const mant = (x >>> 13) & 0x3ff;
  if (exp <= 0) return sign;
  if (exp >= 31) return sign | 0x7c00;
  return sign | (exp << 10) | mant;
}

export interface WriteModelOptions {
  shape: ShapeName | ModelShape; seed?: number; chatTemplate?: string | null; name?: string;
  /**
   * "control": the byte-fallback tokens are control tokens, which are never shown as text, so what a
   * random model generates is always valid UTF-8. llama-server fails a completion whose text is not
   * ("does not match the expected Content-only format"), and random weights pick stray bytes often.
   * (llama.cpp needs the byte tokens themselves: it looks up "<0x0A>" when it loads a vocabulary.)
   */
  byteTokens?: "byte" | "control";
  /** Header only, the weights a hole of zeros: for a model far larger than the disk has room for. */
  hollow?: boolean;
  /** "bpe": a byte-level BPE vocabulary (buildBpeVocab) rather than SentencePiece. */
  tokenizer?: "spm" | "bpe";
  /** The BPE vocabulary's pre-tokenizer, as GGUF names it: Qwen2's (the default) or Llama 3's. */
  bpePre?: "qwen2" | "llama-bpe";
  /**
   * A model that writes these pieces, in this order and then end-of-turn, after any prompt: each
   * piece becomes one vocabulary token and the weights make a bigram chain of them. It lets a test
   * put chosen text (hostile Markdown, say) through the real engine into the real UI. At most
   * embedding-size - 1 distinct pieces.
   */
  script?: readonly string[];
  /**
   * Trained weights by tensor name (ggml order: a row per output), in place of random ones; norms
   * included. Without "output.weight" the output shares the token embedding, as llama.cpp allows.
   */
  weights?: ReadonlyMap<string, Float32Array>;
}

export function writeTestModel(path: string, options: WriteModelOptions): { bytes: number; vocab: number } {
  const given = typeof options.shape === "string" ? SHAPES[options.shape] : options.shape;
  const bpe = options.tokenizer === "bpe" ? buildBpeVocab(given.vocab) : undefined;
  const shape = bpe ? { ...given, vocab: bpe.tokens.length } : given;
  const next = rng(options.seed ?? 1234);
  const script = options.script ?? [];
  if (new Set(script).size !== script.length || script.length >= shape.embd) throw new Error(`a script needs distinct pieces, fewer than ${shape.embd}`);
  const vocab = buildVocab(shape.vocab, options.byteTokens ?? "byte", script);
  const headDim = shape.embd / shape.heads;
  const kvDim = headDim * shape.kvHeads;
  const u32 = (value: number): MetaValue => ({ type: ValueType.U32, value });
  const meta: Record<string, MetaValue> = {
    "general.architecture": { type: ValueType.STRING, value: "llama" },
    "general.name": { type: ValueType.STRING, value: options.name ?? `ask-codebase-test-${typeof options.shape === "string" ? options.shape : "custom"}` },
    "llama.context_length": u32(shape.context),
    "llama.embedding_length": u32(shape.embd),
    "llama.block_count": u32(shape.layers),
    "llama.feed_forward_length": u32(shape.ffn),
    "llama.attention.head_count": u32(shape.heads),
    "llama.attention.head_count_kv": u32(shape.kvHeads),
    "llama.rope.dimension_count": u32(headDim),
    "llama.rope.freq_base": { type: ValueType.F32, value: 10000 },
    "llama.attention.layer_norm_rms_epsilon": { type: ValueType.F32, value: 1e-5 },
    "llama.vocab_size": u32(shape.vocab),
    "tokenizer.ggml.model": { type: ValueType.STRING, value: "llama" },
    "tokenizer.ggml.tokens": { type: ValueType.ARRAY, itemType: ValueType.STRING, value: vocab.tokens },
    "tokenizer.ggml.scores": { type: ValueType.ARRAY, itemType: ValueType.F32, value: vocab.scores },
    "tokenizer.ggml.token_type": { type: ValueType.ARRAY, itemType: ValueType.I32, value: vocab.types },
    "tokenizer.ggml.unknown_token_id": u32(0),
    "tokenizer.ggml.bos_token_id": u32(1),
    "tokenizer.ggml.eos_token_id": u32(vocab.tokens.indexOf("<|im_end|>")),
    "tokenizer.ggml.add_bos_token": { type: ValueType.BOOL, value: true },
  };
  if (bpe) {
    if (script.length) throw new Error("a scripted model has a SentencePiece vocabulary");
    for (const key of ["tokenizer.ggml.scores", "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.add_bos_token"]) delete meta[key];
    Object.assign(meta, {
      "tokenizer.ggml.model": { type: ValueType.STRING, value: "gpt2" },
      "tokenizer.ggml.pre": { type: ValueType.STRING, value: options.bpePre ?? "qwen2" },
      "tokenizer.ggml.tokens": { type: ValueType.ARRAY, itemType: ValueType.STRING, value: bpe.tokens },
      "tokenizer.ggml.token_type": { type: ValueType.ARRAY, itemType: ValueType.I32, value: bpe.types },
      "tokenizer.ggml.merges": { type: ValueType.ARRAY, itemType: ValueType.STRING, value: bpe.merges },
      "tokenizer.ggml.bos_token_id": u32(bpe.tokens.indexOf("<|endoftext|>")),
      "tokenizer.ggml.eos_token_id": u32(bpe.tokens.indexOf("<|im_end|>")),
    } satisfies Record<string, MetaValue>);
  }
  const template = options.chatTemplate === undefined ? CHATML_TEMPLATE : options.chatTemplate;
  if (template !== null) meta["tokenizer.chat_template"] = { type: ValueType.STRING, value: template };

  const std = 0.5 / Math.sqrt(shape.embd);
  const trained = options.weights;
  const trainedWeight = (name: string, n: number): Float32Array => {
    const w = trained!.get(name);
    if (!w || w.length !== n) throw new Error(`weights: ${name} ${w ? `has ${w.length} values, not ${n}` : "is missing"}`);
    return w;
  };
  const weight = (name: string, dims: number[]): TensorSpec => ({ name, dims, type: shape.type, fill: (n) => (trained ? encodeWeights(shape.type, trainedWeight(name, n)) : fillRandom(shape.type, n, std, next)) });
  const norm = (name: string): TensorSpec => ({ name, dims: [shape.embd], type: TensorType.F32, fill: (n) => (trained ? encodeWeights(TensorType.F32, trainedWeight(name, n)) : Buffer.from(new Float32Array(n).fill(1).buffer)) });
  const chain = script.length ? scriptChain(vocab.tokens, script, vocab.tokens.indexOf("<|im_end|>"), shape) : undefined;
  const tensors: TensorSpec[] = [chain ? chain.embedding : weight("token_embd.weight", [shape.embd, shape.vocab])];
  for (let l = 0; l < shape.layers; l++) {
    const p = `blk.${l}.`;
    tensors.push(
      norm(p + "attn_norm.weight"),
      weight(p + "attn_q.weight", [shape.embd, shape.embd]),
      weight(p + "attn_k.weight", [shape.embd, kvDim]),
      weight(p + "attn_v.weight", [shape.embd, kvDim]),
      weight(p + "attn_output.weight", [shape.embd, shape.embd]),
      norm(p + "ffn_norm.weight"),
      weight(p + "ffn_gate.weight", [shape.embd, shape.ffn]),
      weight(p + "ffn_up.weight", [shape.embd, shape.ffn]),
      weight(p + "ffn_down.weight", [shape.ffn, shape.embd]),
    );
  }
  tensors.push(norm("output_norm.weight"));
  if (!trained || trained.has("output.weight")) tensors.push(chain ? chain.output : weight("output.weight", [shape.embd, shape.vocab]));
  if (chain) for (const t of tensors) if (t.name.startsWith("blk.") && !t.name.endsWith("norm.weight")) t.fill = (n) => Buffer.alloc(tensorBytes(t.type, n));
  return { bytes: writeGguf(path, meta, tensors, options.hollow ?? false), vocab: shape.vocab };
}

/**
 * Weights of a bigram chain. With every block's weights zero, attention and feed-forward add
 * nothing, so the last hidden state is the last token's embedding: piece i embeds as basis vector
 * i + 1, every other token as vector 0. The output row of each piece's successor (the first piece
 * after any other token, end-of-turn after the last) reads that vector, so greedy decoding walks
 * the chain whatever the prompt was.
 */
function scriptChain(tokens: readonly string[], script: readonly string[], end: number, shape: ModelShape): { embedding: TensorSpec; output: TensorSpec } {
  const ids = script.map((piece) => tokens.indexOf(piece.replaceAll(" ", "▁")));
  const embedding = new Float32Array(shape.embd * shape.vocab);
  for (let t = 0; t < shape.vocab; t++) embedding[t * shape.embd] = 1;
  ids.forEach((id, i) => { embedding[id * shape.embd] = 0; embedding[id * shape.embd + i + 1] = 1; });
  const output = new Float32Array(shape.embd * shape.vocab);
  [...ids, end].forEach((next, i) => { output[next * shape.embd + i] = 10; });
  const tensor = (name: string, data: Float32Array): TensorSpec => ({ name, dims: [shape.embd, shape.vocab], type: TensorType.F32, fill: () => Buffer.from(data.buffer) });
  return { embedding: tensor("token_embd.weight", embedding), output: tensor("output.weight", output) };
}
