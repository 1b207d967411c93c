// Run as its own process: loads the model on one GPU backend and decodes a few tokens. A backend
// whose kernels abort (the CUDA prebuilt on an older driver does, on the first decode) kills only
// this process. Prints one JSON line: { ok, gpuNames } or { ok: false, error }.
import { checkModelFile } from "../model/modelFile";
import { machineThreads, nodeLlamaCpp } from "../llama/runtime";

async function probe(backend: string, modelPath: string): Promise<void> {
  await checkModelFile(modelPath);
  if (process.env.ASK_CODEBASE_PROBE_ABORT === backend) process.abort(); // fault injection for tests: a native abort
  const { getLlama, LlamaLogLevel } = await nodeLlamaCpp();
  const llama = await getLlama({ gpu: backend as "cuda", build: "never", maxThreads: machineThreads(), logLevel: LlamaLogLevel.error, progressLogs: false });
  if (llama.gpu !== backend) throw new Error(`${backend} is not available here`);
  const model = await llama.loadModel({ modelPath, gpuLayers: "auto" });
  const context = await model.createContext({ contextSize: 256 });
  const sequence = context.getSequence();
  let n = 0;
  for await (const _ of sequence.evaluate(model.tokenize("function main() {"), { temperature: 0 })) if (++n >= 2) break;
  process.stdout.write(JSON.stringify({ ok: true, gpuNames: await llama.getGpuDeviceNames() }) + "\n");
  await context.dispose();
  await model.dispose();
}

const [backend, modelPath] = process.argv.slice(2);
probe(backend!, modelPath!).then(
  () => process.exit(0),
  (err: unknown) => {
    process.stdout.write(JSON.stringify({ ok: false, error: String((err as Error)?.message ?? err).split("\n")[0] }) + "\n");
    process.exit(1);
  },
);
