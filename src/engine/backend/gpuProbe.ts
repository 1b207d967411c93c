// Run as its own process: loads the model on one GPU backend and decodes a few tokens. A backend
// whose kernels abort (the CUDA prebuilt on an older driver does, on the first decode) kills only
// this process. Prints one JSON line: { ok, gpuNames } or { ok: false, error, unavailable? }. With `describe`,
// the GPU the best backend sees: { ok, gpu: { backend, name, vramBytes } | null }.
import { checkModelFile } from "../model/modelFile";
import { loadLlama, type GpuChoice } from "../llama/runtime";
import { noRealGpu, NoRealGpu } from "./softwareGpu";

async function probe(backend: string, modelPath: string): Promise<void> {
  await checkModelFile(modelPath);
  if (process.env.ASK_CODEBASE_PROBE_ABORT === backend) process.abort(); // fault injection for tests: a native abort
  const llama = await loadLlama(backend as GpuChoice);
  if (llama.gpu !== backend) throw new Error(`${backend} is not available here`);
  const names = await llama.getGpuDeviceNames();
  if (noRealGpu(names)) throw new NoRealGpu(names);
  const model = await llama.loadModel({ modelPath, gpuLayers: "auto" });
  const context = await model.createContext({ contextSize: 256 });
  const sequence = context.getSequence();
  let n = 0;
  for await (const _ of sequence.evaluate(model.tokenize("function main() {"), { temperature: 0 })) if (++n >= 2) break;
  process.stdout.write(JSON.stringify({ ok: true, gpuNames: names }) + "\n");
  await context.dispose();
  await model.dispose();
}

/**
 * `describe`: which GPU node-llama-cpp's best loading backend sees, and its memory, without a
 * model (nothing is decoded, so a build whose kernels abort cannot take this process either way).
 */
async function describe(): Promise<void> {
  const llama = await loadLlama("auto");
  const names = llama.gpu ? await llama.getGpuDeviceNames() : [];
  const real = llama.gpu && !noRealGpu(names);
  const gpu = real ? { backend: llama.gpu, name: names[0], vramBytes: (await llama.getVramState()).total } : null;
  process.stdout.write(JSON.stringify({ ok: true, gpu }) + "\n");
}

const [backend, modelPath] = process.argv.slice(2);
(backend === "describe" ? describe() : probe(backend!, modelPath!)).then(
  () => process.exit(0),
  (err: unknown) => {
    const unavailable = err instanceof NoRealGpu;
    process.stdout.write(JSON.stringify({ ok: false, error: String((err as Error)?.message ?? err).split("\n")[0], ...(unavailable ? { unavailable } : {}) }) + "\n");
    process.exit(1);
  },
);
