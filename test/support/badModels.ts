// Model files damaged in the ways a download or a disk can damage them, or a careless converter
// writes them: each must end with one line naming the problem, never a native crash.
import { randomBytes } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { writeTestModel } from "./testModel";

export const BAD_MODELS = ["random-after-header", "truncated", "token-count", "string-length", "tokens-not-utf8", "tokens-all-same", "tensor-outside"] as const;
export type BadModel = (typeof BAD_MODELS)[number];

/** Little-endian writers for a GGUF written by hand. */
class Bytes {
  private parts: Buffer[] = [];
  u32(v: number): this { const b = Buffer.alloc(4); b.writeUInt32LE(v); this.parts.push(b); return this; }
  u64(v: bigint | number): this { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); this.parts.push(b); return this; }
  raw(b: Buffer): this { this.parts.push(b); return this; }
  str(s: string | Buffer): this { const b = typeof s === "string" ? Buffer.from(s, "utf8") : s; return this.u64(b.length).raw(b); }
  done(): Buffer { return Buffer.concat(this.parts); }
}

const STRING = 8;
const ARRAY = 9;


/** A GGUF header and a vocabulary of these tokens (raw bytes), nothing else. */
function vocabularyOnly(tokens: Buffer[]): Buffer {
  const b = new Bytes().raw(Buffer.from("GGUF")).u32(3).u64(0).u64(3);
  b.str("general.architecture").u32(STRING).str("llama");
  b.str("tokenizer.ggml.model").u32(STRING).str("llama");
  b.str("tokenizer.ggml.tokens").u32(ARRAY).u32(STRING).u64(tokens.length);
  for (const t of tokens) b.str(t);
  return b.done();
}

export function writeBadModel(path: string, kind: BadModel): void {
  switch (kind) {
    case "random-after-header":
      writeFileSync(path, Buffer.concat([new Bytes().raw(Buffer.from("GGUF")).u32(3).done(), randomBytes(64 * 1024)]));
      return;
    case "truncated": {
      writeTestModel(path, { shape: "tiny" });
      const whole = readFileSync(path);
      writeFileSync(path, whole.subarray(0, Math.floor(whole.length * 0.6)));
      return;
    }
    case "token-count":
      // A token count of 2^40: no file holds that many.
      writeFileSync(path, new Bytes().raw(Buffer.from("GGUF")).u32(3).u64(0).u64(1).str("tokenizer.ggml.tokens").u32(ARRAY).u32(STRING).u64(2n ** 40n).str("a").done());
      return;
    case "string-length":
      writeFileSync(path, new Bytes().raw(Buffer.from("GGUF")).u32(3).u64(0).u64(1).str("general.architecture").u32(STRING).u64(2n ** 50n).raw(Buffer.from("llama")).done());
      return;
    case "tokens-not-utf8":
      writeFileSync(path, vocabularyOnly(Array.from({ length: 300 }, (_, i) => Buffer.from([0xff, 0x41 + (i % 26), 0x41 + Math.floor(i / 26)]))));
      return;
    case "tokens-all-same":
      writeFileSync(path, vocabularyOnly(Array.from({ length: 300 }, () => Buffer.from("same"))));
      return;
    case "tensor-outside": {
      // A header that promises a tensor far past the end of the file.
      const b = new Bytes().raw(Buffer.from("GGUF")).u32(3).u64(1).u64(1);
      b.str("general.architecture").u32(STRING).str("llama");
      b.str("token_embd.weight").u32(2).u64(4096).u64(4096).u32(0).u64(0);
      writeFileSync(path, b.done());
      return;
    }
  }
}


