// `ask-codebase build-cuda`: builds node-llama-cpp's CUDA backend from source for this machine
// (its own source build), keeps it, and has the next question probe CUDA again. Refused, with
// what is missing, where there is no NVIDIA GPU or no CUDA toolkit: nothing is started then.
import { parseArgs } from "node:util";
import { defaultBackendMemory } from "../engine/backend/backendChoice";
import { BuildStore, buildCudaBackend, cudaBuildMemoryBeside, defaultBuildStoreDir } from "../engine/backend/cudaBuild";
import { findCudaTools, nvidiaGpus } from "../engine/backend/cudaTools";
import { UsageError, WorkFailed } from "./args";

export async function buildCudaCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { store: { type: "string" } } });
  if (process.platform === "darwin") throw new UsageError("there is no CUDA on macOS: the Metal backend is used");
  const gpus = await nvidiaGpus();
  if (!gpus.length) throw new UsageError("no NVIDIA GPU was found (nvidia-smi -L lists none): a CUDA build would have nothing to run on");
  const tools = await findCudaTools();
  if (!tools) throw new UsageError("no CUDA toolkit was found (nvcc on PATH, $CUDACXX, $CUDA_PATH or /usr/local/cuda): install it to build the CUDA backend");
  if (tools.missing.length) throw new UsageError(`building the CUDA backend needs ${tools.missing.join(", ")} on PATH`);
  const store = new BuildStore(values.store ?? defaultBuildStoreDir());
  const backends = defaultBackendMemory();
  const memory = cudaBuildMemoryBeside(backends);
  process.stderr.write(`building the CUDA backend for ${gpus[0]} with CUDA ${tools.version ?? "(version unknown)"} (${tools.nvcc}); node-llama-cpp's source build, several minutes\n`);
  const controller = new AbortController();
  const onSigint = (): void => controller.abort();
  process.on("SIGINT", onSigint);
  let shown = -10;
  try {
    const built = await buildCudaBackend({
      store, tools, signal: controller.signal,
      onProgress: (p) => {
        // A log gets a line every tenth of the way; a terminal, the latest line in place.
        if (process.stderr.isTTY) process.stderr.write(`\r\x1b[K${p.percent !== undefined ? `${p.percent}% ` : ""}${p.message.slice(0, 100)}`);
        else if (p.percent === undefined || p.percent >= shown + 10) {
          if (p.percent !== undefined) shown = p.percent;
          process.stderr.write(`${p.percent !== undefined ? `${p.percent}% ` : ""}${p.message}\n`);
        }
      },
    });
    memory.update({ answer: "build", built: { nlcVersion: store.version, at: new Date().toISOString(), seconds: built.seconds } });
    backends.forget("cuda");
    process.stderr.write(`${process.stderr.isTTY ? "\r\x1b[K" : ""}built the CUDA backend in ${Math.round(built.seconds)} s; kept in ${store.dir}. The next question tries it (--gpu auto or cuda).\n`);
    return 0;
  } catch (err) {
    if (controller.signal.aborted) {
      process.stderr.write("\nbuild cancelled; nothing changed\n");
      return 130;
    }
    memory.update({ failed: { nlcVersion: store.version, at: new Date().toISOString(), reason: (err as Error).message } });
    throw new WorkFailed(`building the CUDA backend failed: ${(err as Error).message}`);
  } finally {
    process.off("SIGINT", onSigint);
  }
}

