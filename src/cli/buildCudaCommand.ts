// `ask-codebase build-cuda`: builds node-llama-cpp's CUDA backend from source for this machine
// (its own source build), keeps it, and has the next question probe CUDA again. Refused, with
// what is missing, where there is no NVIDIA GPU or no CUDA toolkit: nothing is started then.
import { parseArgs } from "node:util";
import { defaultBackendMemory } from "../engine/backend/backendChoice";
import { BuildRefused, buildHere, defaultBuildStoreDir } from "../engine/backend/cudaBuild";
import { UsageError, WorkFailed } from "./args";

export async function buildCudaCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { store: { type: "string" } } });
  const controller = new AbortController();
  const onSigint = (): void => controller.abort();
  process.on("SIGINT", onSigint);
  const tty = process.stderr.isTTY;
  let shown = -10;
  try {
    const built = await buildHere(defaultBackendMemory(), values.store ?? defaultBuildStoreDir(), {
      signal: controller.signal,
      onProgress: (p) => {
        // A log gets a line every tenth of the way; a terminal, the latest line in place.
        const text = `${p.percent !== undefined ? `${p.percent}% ` : ""}${p.message}`;
        if (tty) process.stderr.write(`\r\x1b[K${text.slice(0, 110)}`);
        else if (p.percent === undefined || p.percent >= shown + 10) {
          if (p.percent !== undefined) shown = p.percent;
          process.stderr.write(`${text}\n`);
        }
      },
    });
    const changes = built.changes?.length ? ` (node-llama-cpp's addon with: ${built.changes.join("; ")})` : "";
    process.stderr.write(`${tty ? "\r\x1b[K" : ""}built the CUDA backend in ${Math.round(built.seconds)} s${changes}; kept in ${built.dir}. The next question tries it (--gpu auto or cuda).\n`);
    return 0;
  } catch (err) {
    if (err instanceof BuildRefused) throw new UsageError(err.message);
    if (controller.signal.aborted) {
      process.stderr.write("\nbuild cancelled; nothing changed\n");
      return 130;
    }
    throw new WorkFailed(`building the CUDA backend failed: ${(err as Error).message}`);
  } finally {
    process.off("SIGINT", onSigint);
  }
}
