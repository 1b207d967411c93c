// A model given as a path, an `hf:` URI or a URL. URIs go through node-llama-cpp's resolver, which
// downloads into `directory` once and reuses the file after. (No download can be tested where the
// suite runs; paths are.)
import { resolve } from "node:path";
import { defaultModelDirectory } from "../../shared/modelCatalog";
import { isRemoteModel } from "../../shared/settings";
import { nodeLlamaCpp } from "../llama/runtime";
import { ModelFileError } from "./modelFile";

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
