// The extension's handle on the engine process. No vscode import: it is tested under plain Node.
// The process is started on first use, restarted after it dies (the user is told why), and a run
// it was serving ends with an error event instead of hanging.
import { fork, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import type { WimEvent } from "../core/wim/events";
import { BackendMemory, defaultBackendMemory } from "../engine/backend/backendChoice";
import type { GpuChoice } from "../engine/llama/runtime";
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
  /** Requests awaiting their answer (plans, model downloads, stats), by request id. */
  private readonly pending = new Map<string, { resolve: (value: never) => void; reject: (e: Error) => void; progress?: (downloaded: number, total: number) => void }>();
  private readonly runs = new Set<string>();
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
      case "planned":
        this.settle(message.requestId, message.summary, message.error ?? "planning failed");
        return;
      case "event":
        if (message.event.type === "run-started") this.backend = message.event.backend;
        this.options.onEvent(message.event);
        return;
      case "stats":
        this.settle(message.requestId, message.stats, "no stats");
        return;
      case "model-progress":
        this.pending.get(message.requestId)?.progress?.(message.downloaded, message.total);
        return;
      case "model-resolved":
        this.settle(message.requestId, message.path, message.error ?? "the model could not be resolved");
        return;
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
    for (const [, waiting] of this.pending) waiting.reject(new Error(reason));
    this.pending.clear();
    this.restarts++;
    this.options.onExit?.(reason);
  }

  private async send(message: ToEngine): Promise<void> {
    await this.start();
    this.child?.send(message);
  }

  private settle(requestId: string, value: unknown, error: string): void {
    const waiting = this.pending.get(requestId);
    this.pending.delete(requestId);
    if (value !== undefined) waiting?.resolve(value as never);
    else waiting?.reject(new Error(error));
  }

  /** Sends a message that carries a fresh request id and resolves with the engine's answer to it. */
  private async request<T>(build: (requestId: string) => ToEngine, progress?: (downloaded: number, total: number) => void): Promise<T> {
    await this.start();
    const requestId = randomUUID();
    const answer = new Promise<T>((resolve, reject) => this.pending.set(requestId, { resolve: resolve as (value: never) => void, reject, ...(progress ? { progress } : {}) }));
    await this.send(build(requestId));
    return answer;
  }

  stats(): Promise<EngineStats> {
    return this.request((requestId) => ({ type: "stats", requestId }));
  }

  plan(roots: string[], settings: RunSettings): Promise<PlanSummary> {
    return this.request((requestId) => ({ type: "plan", requestId, roots, settings }));
  }

  /** A path, or an hf: URI / URL downloaded into `directory` (progress reported); `signal` cancels the download. */
  resolveModel(spec: string, directory: string, progress?: (downloaded: number, total: number) => void, signal?: AbortSignal): Promise<string> {
    return this.request((requestId) => {
      signal?.addEventListener("abort", () => this.child?.send({ type: "cancel-resolve", requestId } satisfies ToEngine), { once: true });
      return { type: "resolve-model", requestId, spec, directory };
    }, progress);
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
