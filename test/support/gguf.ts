// Writes GGUF v3 files: just enough of the format to produce llama-architecture models that
// node-llama-cpp loads. No model can be downloaded where tests run, so the suite writes its own.
import { closeSync, ftruncateSync, openSync, writeSync } from "node:fs";

const ALIGNMENT = 32;

export const enum ValueType { U32 = 4, I32 = 5, F32 = 6, BOOL = 7, STRING = 8, ARRAY = 9, U64 = 10 }
export const enum TensorType { F32 = 0, F16 = 1, Q4_0 = 2, Q8_0 = 8 }

export type MetaValue =
  | { type: ValueType.U32 | ValueType.I32 | ValueType.F32 | ValueType.U64; value: number }
  | { type: ValueType.BOOL; value: boolean }
  | { type: ValueType.STRING; value: string }
  | { type: ValueType.ARRAY; itemType: ValueType.STRING; value: string[] }
  | { type: ValueType.ARRAY; itemType: ValueType.F32 | ValueType.I32; value: number[] };

export interface TensorSpec {
  name: string;
  /** ggml order: dims[0] is the innermost (input) dimension. */
  dims: number[];
  type: TensorType;
  /** Fills the tensor's bytes; called once, in file order, so large models stream to disk. */
  fill: (elements: number) => Buffer;
}

class ByteSink {
  private chunks: Buffer[] = [];
  length = 0;
  push(b: Buffer): void { this.chunks.push(b); this.length += b.length; }
  u32(v: number): void { const b = Buffer.alloc(4); b.writeUInt32LE(v); this.push(b); }
  u64(v: number): void { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); this.push(b); }
  i32(v: number): void { const b = Buffer.alloc(4); b.writeInt32LE(v); this.push(b); }
  f32(v: number): void { const b = Buffer.alloc(4); b.writeFloatLE(v); this.push(b); }
  str(s: string): void { const b = Buffer.from(s, "utf8"); this.u64(b.length); this.push(b); }
  pad(): void { const rem = this.length % ALIGNMENT; if (rem) this.push(Buffer.alloc(ALIGNMENT - rem)); }
  concat(): Buffer { return Buffer.concat(this.chunks); }
}

function writeValue(s: ByteSink, v: MetaValue): void {
  s.u32(v.type);
  switch (v.type) {
    case ValueType.U32: s.u32(v.value); break;
    case ValueType.I32: s.i32(v.value); break;
    case ValueType.F32: s.f32(v.value); break;
    case ValueType.U64: s.u64(v.value); break;
    case ValueType.BOOL: s.push(Buffer.from([v.value ? 1 : 0])); break;
    case ValueType.STRING: s.str(v.value); break;
    case ValueType.ARRAY:
      s.u32(v.itemType);
      s.u64(v.value.length);
      for (const item of v.value) {
        if (v.itemType === ValueType.STRING) s.str(item as string);
        else if (v.itemType === ValueType.F32) s.f32(item as number);
        else s.i32(item as number);
      }
      break;
  }
}

export function tensorBytes(type: TensorType, elements: number): number {
  switch (type) {
    case TensorType.F32: return elements * 4;
    case TensorType.F16: return elements * 2;
    case TensorType.Q4_0: return (elements / 32) * 18;
    case TensorType.Q8_0: return (elements / 32) * 34;
  }
}

/** `hollow`: the tensors' bytes are left as a hole (a sparse file of zeros): a model of any size, written at once. */
export function writeGguf(path: string, metadata: Record<string, MetaValue>, tensors: TensorSpec[], hollow = false): number {
  const head = new ByteSink();
  head.push(Buffer.from("GGUF", "ascii"));
  head.u32(3);
  head.u64(tensors.length);
  const entries = Object.entries(metadata);
  head.u64(entries.length + 1);
  head.str("general.alignment");
  writeValue(head, { type: ValueType.U32, value: ALIGNMENT });
  for (const [key, value] of entries) { head.str(key); writeValue(head, value); }
  let offset = 0;
  for (const t of tensors) {
    head.str(t.name);
    head.u32(t.dims.length);
    for (const d of t.dims) head.u64(d);
    head.u32(t.type);
    head.u64(offset);
    const size = tensorBytes(t.type, t.dims.reduce((a, b) => a * b, 1));
    offset += Math.ceil(size / ALIGNMENT) * ALIGNMENT;
  }
  head.pad();
  const fd = openSync(path, "w");
  try {
    writeSync(fd, head.concat());
    let written = head.length;
    if (hollow) {
      ftruncateSync(fd, written + offset);
      return written + offset;
    }
    for (const t of tensors) {
      const elements = t.dims.reduce((a, b) => a * b, 1);
      const data = t.fill(elements);
      if (data.length !== tensorBytes(t.type, elements)) throw new Error(`tensor ${t.name}: ${data.length} bytes, expected ${tensorBytes(t.type, elements)}`);
      writeSync(fd, data);
      written += data.length;
      const rem = data.length % ALIGNMENT;
      if (rem) { writeSync(fd, Buffer.alloc(ALIGNMENT - rem)); written += ALIGNMENT - rem; }
    }
    return written;
  } finally {
    closeSync(fd);
  }
}
