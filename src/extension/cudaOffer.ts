// The CUDA build, offered once in VS Code: after a question that ran on another backend, on a
// machine with an NVIDIA GPU and the CUDA toolkit (cudaBuild.ts decides). The build runs in a
// cancellable notification, its output in the log, its result kept in the extension's storage;
// then the engine's process restarts so the next question probes CUDA again.
import { join } from "node:path";
import * as vscode from "vscode";
import type { EngineClient } from "../client/engineClient";
import { defaultBackendMemory } from "../engine/backend/backendChoice";
import { BuildStore, buildCudaBackend, cudaBuildMemoryBeside, offerHere } from "../engine/backend/cudaBuild";
import { findCudaTools, nvidiaGpus } from "../engine/backend/cudaTools";
import type { RunLog } from "./log";
import type { RunStore } from "./runStore";

const BUILD = "Build CUDA Backend";
const NEVER = "Don't Ask Again";

/** Where the extension keeps backends it built (the engine puts them back after an update). */
export function backendBuildDirectory(context: vscode.ExtensionContext): string {
  return join(context.globalStorageUri.fsPath, "backend-builds");
}

export class CudaOffer {
  private asked = false;
  private building?: Promise<void>;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly client: EngineClient,
    private readonly store: RunStore,
    private readonly log: RunLog,
  ) {}

  /** After a run started on `backend`: offers the build if this machine qualifies and was not asked. */
  async afterRunStarted(backend: string): Promise<void> {
    // A server's backend ("llama-server", "vllm") is not this machine's to build.
    if (!["cpu", "vulkan", "metal"].includes(backend) || this.asked || this.building) return;
    this.asked = true;
    const backends = defaultBackendMemory();
    const memory = cudaBuildMemoryBeside(backends);
    const offer = await offerHere(backends, memory);
    if (!offer.offer) {
      if (backend !== "cpu" || backends.get("cuda")) this.log.channel.info(`no CUDA build offered: ${offer.why}`);
      return;
    }
    memory.update({ offeredAt: new Date().toISOString() });
    const pick = await vscode.window.showInformationMessage(`Ask codebase: ${offer.message}`, BUILD, "Not Now", NEVER);
    memory.update({ answer: pick === BUILD ? "build" : pick === NEVER ? "never" : "later" });
    if (pick === BUILD) await this.build();
  }

  /** The command (and the offer's button): builds, keeps the result, restarts the engine when idle. */
  build(): Promise<void> {
    this.building ??= this.runBuild().finally(() => (this.building = undefined));
    return this.building;
  }

  private async runBuild(): Promise<void> {
    const [gpus, tools] = await Promise.all([nvidiaGpus(), findCudaTools()]);
    const missing = !gpus.length ? "no NVIDIA GPU was found (nvidia-smi -L lists none)"
      : !tools ? "no CUDA toolkit was found (nvcc on PATH, $CUDA_PATH or /usr/local/cuda)"
      : tools.missing.length ? `building needs ${tools.missing.join(", ")} on PATH` : undefined;
    if (missing || !tools) {
      void vscode.window.showWarningMessage(`Ask codebase: the CUDA backend cannot be built here: ${missing}.`);
      return;
    }
    const store = new BuildStore(backendBuildDirectory(this.context));
    const backends = defaultBackendMemory();
    const memory = cudaBuildMemoryBeside(backends);
    this.log.channel.info(`building the CUDA backend for ${gpus[0]} with CUDA ${tools.version ?? "?"} (${tools.nvcc}) into ${store.dir}`);
    try {
      const built = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: "Ask codebase: building the CUDA backend", cancellable: true },
        (progress, token) => {
          const controller = new AbortController();
          token.onCancellationRequested(() => controller.abort());
          let last = 0;
          return buildCudaBackend({
            store, tools, signal: controller.signal,
            onLine: (line) => this.log.channel.trace(line),
            onProgress: (p) => {
              const increment = p.percent !== undefined && p.percent > last ? p.percent - last : undefined;
              if (p.percent !== undefined) last = Math.max(last, p.percent);
              progress.report({ message: p.message.slice(0, 80), ...(increment ? { increment } : {}) });
            },
          });
        },
      );
      memory.update({ answer: "build", built: { nlcVersion: store.version, at: new Date().toISOString(), seconds: built.seconds } });
      backends.forget("cuda");
      this.log.channel.info(`built the CUDA backend in ${Math.round(built.seconds)} s, kept in ${store.dir}`);
      await this.restartWhenIdle();
      void vscode.window.showInformationMessage(`Ask codebase: the CUDA backend is built (${Math.round(built.seconds / 60)} min). The next question tries it.`);
    } catch (err) {
      if ((err as Error).name === "AbortError") {
        this.log.channel.info("the CUDA build was cancelled; nothing changed");
        return;
      }
      memory.update({ failed: { nlcVersion: store.version, at: new Date().toISOString(), reason: (err as Error).message } });
      this.log.channel.error(`building the CUDA backend failed: ${(err as Error).message}`);
      const pick = await vscode.window.showErrorMessage(`Ask codebase: building the CUDA backend failed: ${(err as Error).message}. Questions keep running on the backend they use now.`, "Show Log");
      if (pick) this.log.channel.show();
    }
  }

  /** A run in progress keeps its engine; the restart waits for its end. */
  private async restartWhenIdle(): Promise<void> {
    const run = this.store.current;
    if (run && run.phase !== "ended") await this.store.whenEnded(run.runId);
    await this.client.restart();
  }
}
