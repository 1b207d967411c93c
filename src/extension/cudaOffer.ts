// The CUDA build, offered once in VS Code: after a question that ran on another backend, on a
// machine with an NVIDIA GPU and the CUDA toolkit (cudaBuild.ts decides). The build runs in a
// cancellable notification, its output in the log, its result kept in the extension's storage;
// then the engine's process restarts so the next question probes CUDA again. The engine's process
// decides and builds (it owns the backends); this is only the asking and the showing.
import { join } from "node:path";
import * as vscode from "vscode";
import { EngineRequestError, type EngineClient } from "../client/engineClient";
import { SECTION } from "./config";
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
    // A backend chosen on purpose (the CPU, or Vulkan) is not second-guessed.
    if (!["auto", "cuda"].includes(vscode.workspace.getConfiguration(SECTION).get<string>("gpu") ?? "auto")) return;
    this.asked = true;
    const offer = await this.client.cudaOffer();
    if (!offer.offer) {
      this.log.channel.info(`no CUDA build offered: ${offer.why}`);
      return;
    }
    const pick = await vscode.window.showInformationMessage(`Ask codebase: ${offer.message}`, BUILD, "Not Now", NEVER);
    if (pick === BUILD) await this.build();
    else await this.client.cudaAnswer(pick === NEVER ? "never" : "later");
  }

  /** The command (and the offer's button): builds, keeps the result, restarts the engine when idle. */
  build(): Promise<void> {
    this.building ??= this.runBuild().finally(() => (this.building = undefined));
    return this.building;
  }

  private async runBuild(): Promise<void> {
    const storeDir = backendBuildDirectory(this.context);
    try {
      const built = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: "Ask codebase: building the CUDA backend", cancellable: true },
        (progress, token) => {
          const controller = new AbortController();
          token.onCancellationRequested(() => controller.abort());
          let last = 0;
          return this.client.buildCuda(storeDir, {
            signal: controller.signal,
            onLine: (line) => this.log.channel.trace(line),
            onProgress: (p) => {
              this.log.channel.info(`CUDA build: ${p.percent !== undefined ? `${p.percent}% ` : ""}${p.message}`);
              const increment = p.percent !== undefined && p.percent > last ? p.percent - last : undefined;
              if (p.percent !== undefined) last = Math.max(last, p.percent);
              progress.report({ message: p.message.slice(0, 80), ...(increment ? { increment } : {}) });
            },
          });
        },
      );
      this.log.channel.info(`built the CUDA backend in ${Math.round(built.seconds)} s, kept in ${built.dir}${built.changes?.length ? `; node-llama-cpp's addon with: ${built.changes.join("; ")}` : ""}`);
      await this.restartWhenIdle();
      void vscode.window.showInformationMessage(`Ask codebase: the CUDA backend is built (${Math.max(1, Math.round(built.seconds / 60))} min). The next question tries it.`);
    } catch (err) {
      const failure = err instanceof EngineRequestError ? err.failure : { message: (err as Error).message, kind: "internal" as const };
      if (failure.kind === "cancelled") {
        this.log.channel.info("the CUDA build was cancelled; nothing changed");
        return;
      }
      this.log.channel.error(`building the CUDA backend failed: ${failure.message}`);
      const what = failure.kind === "input" ? "the CUDA backend cannot be built here" : "building the CUDA backend failed";
      const pick = await vscode.window.showErrorMessage(`Ask codebase: ${what}: ${failure.message}. Questions keep running on the backend they use now.`, "Show Log");
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
