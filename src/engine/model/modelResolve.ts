// A model given as a path, an `hf:` URI or a URL. URIs go through node-llama-cpp's resolver, which
// downloads into `directory` once and reuses the file after. (No download can be tested where the
// suite runs; paths are.)
import { homedir } from "node:os";
import { join, resolve } from "node:path";
import { nodeLlamaCpp } from "../llama/runtime";
import { ModelFileError } from "./modelFile";

/** A small instruction-tuned code model: good answers on a laptop, fits in ~1.2 GB. */
export const DEFAULT_MODEL = "hf:Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF:Q4_K_M";

export function defaultModelDirectory(): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "ask-codebase", "models");
}

export function isRemoteModel(spec: string): boolean {
  return /^(hf:|huggingface:|https?:\/\/)/i.test(spec);
}

export interface ResolveOptions {
  directory?: string;
  signal?: AbortSignal;
  onProgress?: (downloaded: number, total: number) => void;
}

export async function resolveModel(spec: string, options: ResolveOptions = {}): Promise<string> {
  if (!isRemoteModel(spec)) return resolve(spec);
  const { resolveModelFile } = await nodeLlamaCpp();
  try {
    return await resolveModelFile(spec, {
      directory: options.directory ?? defaultModelDirectory(),
      download: "auto",
      cli: false,
      ...(options.signal ? { signal: options.signal } : {}),
      ...(options.onProgress ? { onProgress: ({ downloadedSize, totalSize }: { downloadedSize: number; totalSize: number }) => options.onProgress!(downloadedSize, totalSize) } : {}),
    });
  } catch (err) {
    if (options.signal?.aborted) throw err;
    throw new ModelFileError(`cannot get model ${spec}: ${(err as Error).message}`);
  }
}
