// The extension's handle on the engine process. No vscode import: it is tested under plain Node.
// The process is started on first use, restarted after it dies (the user is told why), and a run
// it was serving ends with an error event instead of hanging.
import { fork, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import type { WimEvent } from "../core/wim/events";
import { BackendMemory, defaultBackendMemory } from "../engine/backendChoice";
import type { GpuChoice } from "../engine/llama";
import type { EngineStats, FromEngine, PlanSummary, RunSettings, ToEngine } from "../shared/engineProtocol";

export interface EngineClientOptions {
  /** The engine's entry script (dist/engineHost.js). */
  script: string;
  execArgv?: string[];
  env?: NodeJS.ProcessEnv;
  onEvent: (event: WimEvent) => void;
  onStatus?: (text: string) => void;
  /** The process died: `reason` says how, for the user. */
  onExit?: (reason: string) => void;
  /** Where backend verdicts are kept (defaults to the user's cache folder). */
  backends?: BackendMemory;
}

export class EngineClient {
  private child?: ChildProcess;
  private ready?: Promise<void>;
  private readonly plans = new Map<string, { resolve: (s: PlanSummary) => void; reject: (e: Error) => void }>();
  private readonly runs = new Set<string>();
  private readonly statsRequests = new Map<string, (stats: EngineStats) => void>();
  private readonly models = new Map<string, { resolve: (path: string) => void; reject: (e: Error) => void; progress?: (downloaded: number, total: number) => void }>();
  private stderr = "";
  /** The backend of the last run started, so a GPU that crashes the engine is remembered as failed. */
  private backend?: string;
  private disposed = false;
  restarts = 0;

  constructor(private readonly options: EngineClientOptions) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  private start(): Promise<void> {
    if (this.ready) return this.ready;
    const env = { ...(this.options.env ?? process.env) };
    // glibc gives each native thread its own malloc arena; llama.cpp's threads then left the
    // process's memory growing question after question (+12% from the 10th to the 50th here,
    // with a flat JS heap). One arena: +2.7%, and a smaller process. A user's own setting wins.
    env.MALLOC_ARENA_MAX ??= "1";
    const child = fork(this.options.script, [], {
      execArgv: this.options.execArgv ?? [],
      env,
      stdio: ["ignore", "ignore", "pipe", "ipc"],
    });
    this.child = child;
    this.stderr = "";
    child.stderr!.on("data", (d: Buffer) => { this.stderr = (this.stderr + d.toString()).slice(-4000); });
    this.ready = new Promise<void>((resolve, reject) => {
      child.once("error", reject);
      child.on("message", (message: FromEngine) => {
        if (message.type === "ready") resolve();
        this.receive(message);
      });
      child.once("exit", (code, signal) => {
        reject(new Error("the engine exited while starting"));
        this.exited(child, code, signal);
      });
    });
    return this.ready;
  }

  private receive(message: FromEngine): void {
    switch (message.type) {
      case "ready":
        return;
      case "status":
        this.options.onStatus?.(message.text);
        return;
      case "planned": {
        const waiting = this.plans.get(message.requestId);
        this.plans.delete(message.requestId);
        if (message.summary) waiting?.resolve(message.summary);
        else waiting?.reject(new Error(message.error ?? "planning failed"));
        return;
      }
      case "event":
        if (message.event.type === "run-started") this.backend = message.event.backend;
        this.options.onEvent(message.event);
        return;
      case "stats":
        this.statsRequests.get(message.requestId)?.(message.stats);
        this.statsRequests.delete(message.requestId);
        return;
      case "model-progress":
        this.models.get(message.requestId)?.progress?.(message.downloaded, message.total);
        return;
      case "model-resolved": {
        const waiting = this.models.get(message.requestId);
        this.models.delete(message.requestId);
        if (message.path) waiting?.resolve(message.path);
        else waiting?.reject(new Error(message.error ?? "the model could not be resolved"));
        return;
      }
      case "run-ended":
        this.runs.delete(message.runId);
        return;
      default: {
        const never: never = message;
        throw new Error(`unknown engine message ${JSON.stringify(never)}`);
      }
    }
  }

  private exited(child: ChildProcess, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.child !== child) return;
    this.child = undefined;
    this.ready = undefined;
    if (this.disposed) return;
    const detail = this.stderr.trim().split("\n").filter(Boolean).slice(-2).join(" / ");
    const reason = `the engine process stopped (${signal ?? `exit code ${code}`})${detail ? `: ${detail}` : ""}`;
    const crashedOnGpu = signal !== null && this.runs.size > 0 && this.backend !== undefined && this.backend !== "cpu";
    if (crashedOnGpu) (this.options.backends ?? defaultBackendMemory()).set(this.backend as GpuChoice, { ok: false, reason, at: new Date().toISOString() });
    for (const runId of this.runs) {
      this.options.onEvent({ type: "error", runId, message: `${reason}.${crashedOnGpu ? ` The ${this.backend} backend will not be used again on this machine.` : ""} It will be restarted: ask again.` });
    }
    this.runs.clear();
    for (const [, waiting] of this.plans) waiting.reject(new Error(reason));
    this.plans.clear();
    for (const [, waiting] of this.models) waiting.reject(new Error(reason));
    this.models.clear();
    this.restarts++;
    this.options.onExit?.(reason);
  }

  private async send(message: ToEngine): Promise<void> {
    await this.start();
    this.child?.send(message);
  }

  async plan(roots: string[], settings: RunSettings): Promise<PlanSummary> {
    await this.start();
    const requestId = randomUUID();
    const result = new Promise<PlanSummary>((resolve, reject) => this.plans.set(requestId, { resolve, reject }));
    await this.send({ type: "plan", requestId, roots, settings });
    return result;
  }

  /** A path, or an hf: URI / URL downloaded into `directory` (progress reported); `signal` cancels the download. */
  async resolveModel(spec: string, directory: string, progress?: (downloaded: number, total: number) => void, signal?: AbortSignal): Promise<string> {
    await this.start();
    const requestId = randomUUID();
    const result = new Promise<string>((resolve, reject) => this.models.set(requestId, { resolve, reject, ...(progress ? { progress } : {}) }));
    signal?.addEventListener("abort", () => this.child?.send({ type: "cancel-resolve", requestId } satisfies ToEngine), { once: true });
    await this.send({ type: "resolve-model", requestId, spec, directory });
    return result;
  }

  async stats(): Promise<EngineStats> {
    await this.start();
    const requestId = randomUUID();
    const result = new Promise<EngineStats>((resolve) => this.statsRequests.set(requestId, resolve));
    await this.send({ type: "stats", requestId });
    return result;
  }

  async ask(runId: string, roots: string[], question: string, settings: RunSettings): Promise<void> {
    this.runs.add(runId);
    await this.send({ type: "ask", runId, roots, question, settings });
  }

  async reanswer(runId: string): Promise<void> {
    this.runs.add(runId);
    await this.send({ type: "reanswer", runId });
  }

  control(message: Extract<ToEngine, { type: "answer-now" | "stop" | "reject" | "crash" }>): void {
    this.child?.send(message);
  }

  isRunning(runId: string): boolean {
    return this.runs.has(runId);
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    const child = this.child;
    if (!child) return;
    const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    child.send({ type: "shutdown" } satisfies ToEngine);
    const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
    await gone;
    clearTimeout(timer);
  }
}
