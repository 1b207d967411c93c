// Reads a model's vocabulary from its GGUF metadata, and nothing else. Counting a codebase's tokens
// needs only this: reading it here keeps node-llama-cpp (about 90 MiB in the process, and a helper
// process that tests its native binary) out of planning.
import { open } from "node:fs/promises";
import { ModelFileError } from "../model/modelFile";

export interface Vocabulary {
  /** GGUF `tokenizer.ggml.model`: "llama" is llama.cpp's SentencePiece tokenizer, "gpt2" its BPE. */
  model: string;
  /** GGUF `tokenizer.ggml.pre`: a BPE vocabulary's pre-tokenizer ("qwen2", "llama-bpe", ...). */
  pre?: string;
  tokens: readonly string[];
  /** Merge priorities; empty where the file has none. */
  scores: readonly number[];
  /** GGUF token types: 1 normal, 2 unknown, 3 control, 4 user-defined, 5 unused, 6 byte. */
  types: readonly number[];
  /** The context the model was trained for (`<arch>.context_length`), read beside the vocabulary so a plan can say what fits before the model loads. */
  contextLength?: number;
}

const enum T { U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 }
const SCALAR_BYTES: Partial<Record<T, number>> = { [T.U8]: 1, [T.I8]: 1, [T.BOOL]: 1, [T.U16]: 2, [T.I16]: 2, [T.U32]: 4, [T.I32]: 4, [T.F32]: 4, [T.U64]: 8, [T.I64]: 8, [T.F64]: 8 };
const WANTED = new Set(["tokenizer.ggml.model", "tokenizer.ggml.pre", "tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type", "general.architecture"]);
const wanted = (key: string): boolean => WANTED.has(key) || key.endsWith(".context_length");
/** Metadata past this is not a vocabulary any model has: the file is damaged. */
const MAX_METADATA_BYTES = 256 * 1024 * 1024;

class NeedMore extends Error {}

/** A cursor over the file's first bytes; running past them asks for a larger read. */
class Cursor {
  at = 0;
  constructor(private readonly buf: Buffer, private readonly complete: boolean) {}
  private need(n: number): void {
    if (this.at + n <= this.buf.length) return;
    if (this.complete) throw new ModelFileError("the model file ends inside its metadata");
    throw new NeedMore();
  }
  u32(): number { this.need(4); const v = this.buf.readUInt32LE(this.at); this.at += 4; return v; }
  u64(): number {
    this.need(8);
    const v = this.buf.readBigUInt64LE(this.at);
    this.at += 8;
    if (v > BigInt(MAX_METADATA_BYTES)) throw new ModelFileError("the model file's metadata is damaged (a length of " + v + ")");
    return Number(v);
  }
  skip(n: number): void { this.need(n); this.at += n; }
  skipStr(): void { this.skip(this.u64()); }
  str(): string { const n = this.u64(); this.need(n); const s = this.buf.toString("utf8", this.at, this.at + n); this.at += n; return s; }
  num(type: T): number {
    const size = SCALAR_BYTES[type] ?? 0;
    this.need(size);
    const b = this.buf;
    const at = this.at;
    this.at += size;
    switch (type) {
      case T.U8: case T.BOOL: return b.readUInt8(at);
      case T.I8: return b.readInt8(at);
      case T.U16: return b.readUInt16LE(at);
      case T.I16: return b.readInt16LE(at);
      case T.U32: return b.readUInt32LE(at);
      case T.I32: return b.readInt32LE(at);
      case T.F32: return b.readFloatLE(at);
      case T.F64: return b.readDoubleLE(at);
      case T.U64: return Number(b.readBigUInt64LE(at));
      case T.I64: return Number(b.readBigInt64LE(at));
      default: throw new ModelFileError(`the model file's metadata has an unknown value type ${type}`);
    }
  }
}

function parse(c: Cursor): Vocabulary {
  c.skip(8); // magic and version: checkModelFile has read them
  c.u64(); // tensors
  const pairs = c.u64();
  const found: Record<string, unknown> = {};
  const value = (type: T, keep: boolean): unknown => {
    if (type === T.STRING) return c.str();
    if (type !== T.ARRAY) return c.num(type);
    const item = c.u32() as T;
    const n = c.u64();
    // A BPE vocabulary's merges are as many strings as its tokens: passed over, not decoded.
    if (!keep && item === T.STRING) {
      for (let i = 0; i < n; i++) c.skipStr();
      return undefined;
    }
    if (!keep && item !== T.ARRAY) {
      const size = SCALAR_BYTES[item];
      if (size === undefined) throw new ModelFileError(`the model file's metadata has an unknown value type ${item}`);
      c.skip(n * size);
      return undefined;
    }
    const out: unknown[] = keep ? new Array(n) : [];
    for (let i = 0; i < n; i++) {
      const v = value(item, keep);
      if (keep) out[i] = v;
    }
    return out;
  };
  for (let i = 0; i < pairs; i++) {
    const key = c.str();
    const keep = wanted(key);
    const v = value(c.u32() as T, keep);
    if (keep) found[key] = v;
  }
  return vocabularyOf((key) => found[key]);
}

/**
 * The vocabulary from GGUF metadata as any reader holds it, `get` giving a key's value: this
 * file's parser, or node-llama-cpp's for a model already loaded.
 */
export function vocabularyOf(get: (key: string) => unknown): Vocabulary {
  const text = (key: string): string | undefined => { const v = get(key); return typeof v === "string" ? v : undefined; };
  const list = <T>(key: string): readonly T[] => { const v = get(key); return Array.isArray(v) ? (v as T[]) : []; };
  const pre = text("tokenizer.ggml.pre");
  const arch = text("general.architecture");
  const contextLength = arch ? get(`${arch}.context_length`) : undefined;
  return {
    model: text("tokenizer.ggml.model") ?? "unknown",
    ...(pre !== undefined ? { pre } : {}),
    tokens: list<string>("tokenizer.ggml.tokens"),
    scores: list<number>("tokenizer.ggml.scores"),
    types: list<number>("tokenizer.ggml.token_type"),
    ...(typeof contextLength === "number" ? { contextLength } : {}),
  };
}

/** The vocabulary of a GGUF file that checkModelFile has accepted. `firstRead`: bytes read first. */
export async function readVocabulary(path: string, firstRead = 4 * 1024 * 1024): Promise<Vocabulary> {
  const fh = await open(path, "r");
  try {
    const size = (await fh.stat()).size;
    // Metadata comes first; most vocabularies fit the first read, larger ones ask for more.
    for (let want = firstRead; ; want *= 4) {
      const length = Math.min(want, size);
      const buf = Buffer.alloc(length);
      await fh.read(buf, 0, length, 0);
      try {
        return parse(new Cursor(buf, length === size || length >= MAX_METADATA_BYTES));
      } catch (err) {
        if (!(err instanceof NeedMore)) throw err;
      }
    }
  } finally {
    await fh.close();
  }
}
