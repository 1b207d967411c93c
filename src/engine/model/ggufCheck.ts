// Checks a GGUF file's structure before any native code reads it. llama.cpp trusts the file: a
// count or a length out of range, a tensor past the end, or two tokens with the same text make it
// abort the whole process (GGML_ASSERT) or read for minutes. Here every count and length is held
// to the bytes the file has, and the vocabulary to what llama.cpp requires, so a damaged or
// mis-converted model ends with one line naming the problem.
import { open } from "node:fs/promises";

const enum T { U8, I8, U16, I16, U32, I32, F32, BOOL, STRING, ARRAY, U64, I64, F64 }
const SCALAR: Partial<Record<number, number>> = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 };
/** Bytes per block and elements per block of the ggml tensor types this check can size; others are not sized. */
const TENSOR_TYPES: Record<number, [number, number]> = {
  0: [4, 1], 1: [2, 1], 2: [18, 32], 3: [20, 32], 6: [22, 32], 7: [24, 32], 8: [34, 32], 9: [36, 32],
  10: [84, 256], 11: [110, 256], 12: [144, 256], 13: [176, 256], 14: [210, 256], 15: [292, 256],
  16: [66, 256], 17: [74, 256], 18: [98, 256], 19: [50, 256], 20: [18, 32], 21: [110, 256], 22: [82, 256], 23: [136, 256],
  24: [1, 1], 25: [2, 1], 26: [4, 1], 27: [8, 1], 28: [8, 1], 29: [56, 256], 30: [2, 1],
};
const MAX_DIMS = 4;

/** The problem, in words for a person. */
export class GgufProblem extends Error {}
class NeedMore extends Error {}

class Reader {
  at = 0;
  constructor(private readonly buf: Buffer, private readonly complete: boolean, readonly fileSize: number) {}
  private need(n: number, what: string): void {
    if (n > this.fileSize - this.at) throw new GgufProblem(`${what} runs past the end of the file`);
    if (this.at + n > this.buf.length) {
      if (this.complete) throw new GgufProblem(`${what} runs past the end of the file`);
      throw new NeedMore();
    }
  }
  u32(what: string): number { this.need(4, what); const v = this.buf.readUInt32LE(this.at); this.at += 4; return v; }
  u64(what: string): bigint { this.need(8, what); const v = this.buf.readBigUInt64LE(this.at); this.at += 8; return v; }
  /** A count or length, which cannot be more than the bytes left in the file. */
  size(what: string, unit = 1): number {
    const v = this.u64(what);
    if (v > BigInt(Math.floor((this.fileSize - this.at) / unit))) throw new GgufProblem(`${what} is ${v}, more than the file could hold`);
    return Number(v);
  }
  bytes(n: number, what: string): Buffer { this.need(n, what); const b = this.buf.subarray(this.at, this.at + n); this.at += n; return b; }
  str(what: string): Buffer { return this.bytes(this.size(`${what}'s length`), what); }
  skip(n: number, what: string): void { this.need(n, what); this.at += n; }
}

const UTF8 = new TextDecoder("utf-8", { fatal: true });

function value(r: Reader, type: number, key: string, keep: boolean): unknown {
  if (type === T.STRING) {
    const s = r.str(`the value of ${key}`);
    return keep ? s : undefined;
  }
  if (type === T.ARRAY) {
    const item = r.u32(`${key}'s item type`);
    if (item !== T.STRING && item !== T.ARRAY && SCALAR[item] === undefined) throw new GgufProblem(`${key} holds items of an unknown type (${item})`);
    const n = r.size(`${key}'s item count`, item === T.STRING ? 8 : item === T.ARRAY ? 12 : SCALAR[item]!);
    if (item !== T.STRING && item !== T.ARRAY) {
      r.skip(n * SCALAR[item]!, key);
      return undefined;
    }
    const out: Buffer[] = [];
    for (let i = 0; i < n; i++) {
      const v = value(r, item, key, keep && item === T.STRING);
      if (keep && v) out.push(v as Buffer);
    }
    return keep ? out : undefined;
  }
  const size = SCALAR[type];
  if (size === undefined) throw new GgufProblem(`${key} has a value of an unknown type (${type})`);
  if (keep && (type === T.U32 || type === T.U64)) return type === T.U32 ? r.u32(key) : Number(r.u64(key));
  r.skip(size, key);
  return undefined;
}

function parse(r: Reader): void {
  r.skip(4, "the header");
  const version = r.u32("the version");
  if (version < 2 || version > 3) throw new GgufProblem(`unsupported GGUF version ${version}`);
  const tensors = r.size("the tensor count", 24);
  const pairs = r.size("the metadata count", 12);
  let alignment = 32;
  let tokens: Buffer[] | undefined;
  let tokenizer: string | undefined;
  for (let i = 0; i < pairs; i++) {
    const keyBytes = r.str("a metadata key");
    let key: string;
    try {
      key = UTF8.decode(keyBytes);
    } catch {
      throw new GgufProblem("a metadata key is not valid UTF-8");
    }
    const type = r.u32(`${key}'s type`);
    const v = value(r, type, key, key === "tokenizer.ggml.tokens" || key === "general.alignment" || key === "tokenizer.ggml.model");
    if (key === "tokenizer.ggml.tokens") tokens = v as Buffer[];
    if (key === "tokenizer.ggml.model" && v) tokenizer = (v as Buffer).toString("utf8");
    if (key === "general.alignment" && typeof v === "number") alignment = v;
  }
  if (!(alignment > 0 && (alignment & (alignment - 1)) === 0)) throw new GgufProblem(`general.alignment is ${alignment}, not a power of two`);
  if (tokens) checkVocabulary(tokens, tokenizer);
  const infos: { name: string; bytes?: number; offset: bigint }[] = [];
  for (let i = 0; i < tensors; i++) {
    const name = r.str("a tensor's name").toString("utf8");
    const dims = r.u32(`tensor ${name}'s dimension count`);
    if (dims < 1 || dims > MAX_DIMS) throw new GgufProblem(`tensor ${name} has ${dims} dimensions`);
    let elements = 1n;
    for (let d = 0; d < dims; d++) {
      const n = r.u64(`tensor ${name}'s size`);
      if (n < 1n) throw new GgufProblem(`tensor ${name} has an empty dimension`);
      elements *= n;
    }
    const type = r.u32(`tensor ${name}'s type`);
    const offset = r.u64(`tensor ${name}'s offset`);
    const sized = TENSOR_TYPES[type];
    if (elements > BigInt(r.fileSize) * 64n) throw new GgufProblem(`tensor ${name} has ${elements} elements, more than the file could hold`);
    infos.push({ name, offset, ...(sized ? { bytes: Math.ceil(Number(elements) / sized[1]) * sized[0] } : {}) });
  }
  const dataStart = Math.ceil(r.at / alignment) * alignment;
  for (const t of infos) {
    const end = BigInt(dataStart) + t.offset + BigInt(t.bytes ?? 0);
    if (end > BigInt(r.fileSize)) throw new GgufProblem(`tensor ${t.name} lies past the end of the file (the file is cut short or damaged)`);
  }
}

/** llama.cpp maps each token's text to its id and asserts that no two share a text. */
function checkVocabulary(tokens: Buffer[], tokenizer: string | undefined): void {
  if (!tokens.length) throw new GgufProblem("the vocabulary is empty");
  const seen = new Map<string, number>();
  tokens.forEach((t, i) => {
    const text = t.toString("latin1");
    const first = seen.get(text);
    if (first !== undefined) throw new GgufProblem(`tokens ${first} and ${i} of the vocabulary have the same text`);
    seen.set(text, i);
  });
  // SentencePiece and byte-level BPE vocabularies are text; others (RWKV's) hold raw bytes.
  if (tokenizer === "llama" || tokenizer === "gpt2") {
    const bad = tokens.findIndex((t) => { try { UTF8.decode(t); return false; } catch { return true; } });
    if (bad >= 0) throw new GgufProblem(`token ${bad} of the vocabulary is not valid UTF-8`);
  }
}

/** Resolves when the file's structure holds; rejects with the problem, in words, when it does not. */
export async function checkGgufStructure(path: string): Promise<void> {
  const fh = await open(path, "r");
  try {
    const size = (await fh.stat()).size;
    for (let want = 4 * 1024 * 1024; ; want *= 4) {
      const length = Math.min(want, size);
      const buf = Buffer.alloc(length);
      await fh.read(buf, 0, length, 0);
      try {
        return parse(new Reader(buf, length === size, size));
      } catch (err) {
        if (!(err instanceof NeedMore)) throw err;
      }
    }
  } finally {
    await fh.close();
  }
}
