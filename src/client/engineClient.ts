// A host's handle on the engine process, for the extension and the CLI alike. No vscode import:
// it is tested under plain Node. The process is started on first use, restarted after it dies
// (the host is told why), and a run it was serving ends with an error event instead of hanging.
import { fork, type ChildProcess } from "node:child_process";
import { randomUUID } from "node:crypto";
import { dirname } from "node:path";
import { withAddonShim } from "../shared/addonShim";
import type { WimEvent } from "../core/wim/events";
import type { BuildProgress, BuildResult, CudaOffer, EngineFailure, EngineStats, FromEngine, PlanProgress, PlanSummary, RunSettings, ToEngine, EditorView } from "../shared/engineProtocol";
import type { Machine } from "../shared/modelCatalog";

export interface EngineClientOptions {
  /** The engine's entry script (dist/engineHost.js). */
  script: string;
  execArgv?: string[];
  env?: NodeJS.ProcessEnv;
  /** Where the build put the addon shim (addonShim.ts): the script's folder unless said. */
  addonShimDir?: string;
  onEvent: (event: WimEvent) => void;
  onStatus?: (text: string) => void;
  /** What the engine's process writes on stderr (llama.cpp's own messages among it), for a log. */
  onStderr?: (text: string) => void;
  /** The process died: `reason` says how, for the user. */
  onExit?: (reason: string) => void;
}

/** A request the engine refused or could not finish, with the kind of failure (see EngineFailure). */
export class EngineRequestError extends Error {
  override name = "EngineRequestError";
  constructor(readonly failure: EngineFailure) {
    super(failure.message);
  }
}

interface Waiting {
  resolve: (value: never) => void;
  reject: (e: Error) => void;
  /** A plan's progress, or a build's (`line`: its output). */
  progress?: (p: never, line?: string) => void;
}

export class EngineClient {
  private child?: ChildProcess;
  private ready?: Promise<void>;
  /** Requests awaiting their answer (plans, stats), by request id. */
  private readonly pending = new Map<string, Waiting>();
  private readonly runs = new Set<string>();
  /** Who waits for a run's end (run-ended, or the process gone). */
  private readonly endWaiters = new Map<string, (() => void)[]>();
  private stderr = "";
  /** The backend of the last run started, to say which one a crash happened on. */
  private backend?: string;
  private disposed = false;
  restarts = 0;

  constructor(private readonly options: EngineClientOptions) {}

  get pid(): number | undefined {
    return this.child?.pid;
  }

  private start(): Promise<void> {
    if (this.ready) return this.ready;
    const env = withAddonShim({ ...(this.options.env ?? process.env) }, this.options.addonShimDir ?? dirname(this.options.script));
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
    child.stderr!.on("data", (d: Buffer) => {
      const text = d.toString();
      this.stderr = (this.stderr + text).slice(-4000);
      this.options.onStderr?.(text);
    });
    this.ready = new Promise<void>((resolve, reject) => {
      // Listened to for the process's whole life: a message sent as it dies fails with EPIPE or a
      // closed channel, one error per send, and an error nobody hears would end the host's process.
      // Its exit, which follows, says what happened; before it started, the error is why it did not.
      child.on("error", reject);
      child.on("message", (message: FromEngine) => {
        if (message.type === "ready") resolve();
        this.receive(message);
      });
      child.once("exit", (code, signal) => {
        reject(new Error(`the engine process could not start (${signal ?? `exit code ${code}`})${this.lastStderr() ? `: ${this.lastStderr()}` : ""}`));
        this.exited(child, code, signal);
      });
    });
    return this.ready;
  }

  private lastStderr(): string {
    return this.stderr.trim().split("\n").filter(Boolean).slice(-2).join(" / ");
  }

  private receive(message: FromEngine): void {
    switch (message.type) {
      case "ready":
        return;
      case "status":
        this.options.onStatus?.(message.text);
        return;
      case "plan-progress":
        (this.pending.get(message.requestId)?.progress as ((p: PlanProgress) => void) | undefined)?.(message.progress);
        return;
      case "planned":
        this.settle(message.requestId, message.summary, message.error);
        return;
      case "event":
        if (message.event.type === "run-started") this.backend = message.event.backend;
        this.options.onEvent(message.event);
        return;
      case "stats":
        this.settle(message.requestId, message.stats);
        return;
      case "machine":
        this.settle(message.requestId, message.machine);
        return;
      case "cuda-offer":
        this.settle(message.requestId, message.offer);
        return;
      case "build-progress":
        (this.pending.get(message.requestId)?.progress as ((p: BuildProgress | undefined, line?: string) => void) | undefined)?.(message.progress, message.line);
        return;
      case "built":
        this.settle(message.requestId, message.result, message.error);
        return;
      case "run-ended":
        this.runs.delete(message.runId);
        this.wake(message.runId);
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
    const detail = this.lastStderr();
    const reason = `the engine process stopped (${signal ?? `exit code ${code}`})${detail ? `: ${detail}` : ""}`;
    // The engine marks a GPU run as it starts; the next process finds the mark and stops using that backend.
    const onGpu = signal !== null && this.runs.size > 0 && this.backend !== undefined && this.backend !== "cpu";
    for (const runId of this.runs) {
      this.options.onEvent({ type: "error", runId, message: `${reason}.${onGpu ? ` The ${this.backend} backend will not be used again on this machine.` : ""} It will be restarted: ask again.` });
    }
    this.runs.clear();
    for (const runId of [...this.endWaiters.keys()]) this.wake(runId);
    for (const [, waiting] of this.pending) waiting.reject(new EngineRequestError({ message: reason, kind: "internal" }));
    this.pending.clear();
    this.restarts++;
    this.options.onExit?.(reason);
  }

  private async send(message: ToEngine): Promise<void> {
    await this.start();
    this.child?.send(message);
  }

  private settle(requestId: string, value: unknown, error?: EngineFailure): void {
    const waiting = this.pending.get(requestId);
    this.pending.delete(requestId);
    if (value !== undefined) waiting?.resolve(value as never);
    else waiting?.reject(new EngineRequestError(error ?? { message: "the engine did not answer", kind: "internal" }));
  }

  /** Sends a message that carries a fresh request id and resolves with the engine's answer to it. */
  private async request<T>(build: (requestId: string) => ToEngine, progress?: (p: never, line?: string) => void, signal?: AbortSignal): Promise<T> {
    await this.start();
    const requestId = randomUUID();
    const answer = new Promise<T>((resolve, reject) => this.pending.set(requestId, { resolve: resolve as (value: never) => void, reject, ...(progress ? { progress } : {}) }));
    signal?.addEventListener("abort", () => this.child?.send({ type: "cancel", requestId } satisfies ToEngine), { once: true });
    await this.send(build(requestId));
    return answer;
  }

  stats(): Promise<EngineStats> {
    return this.request((requestId) => ({ type: "stats", requestId }));
  }

  /** This machine as a model is suggested for it: the GPU is the one the engine's backends see. */
  machine(): Promise<Machine> {
    return this.request((requestId) => ({ type: "machine", requestId }));
  }

  /**
   * Resolves the model (downloading it, with progress), reads and tokenizes `roots` for
   * `question`, and returns the summary whose planId runs it. `signal` cancels.
   */
  plan(roots: string[], question: string, settings: RunSettings, hooks: { onProgress?: (p: PlanProgress) => void; signal?: AbortSignal; editor?: EditorView } = {}): Promise<PlanSummary> {
    const editor = hooks.editor ? { editor: hooks.editor } : {};
    return this.request((requestId) => ({ type: "plan", requestId, roots, question, settings, ...editor }), hooks.onProgress, hooks.signal);
  }

  /** Whether to offer building the CUDA backend here; an offer returned is recorded as made. */
  cudaOffer(): Promise<CudaOffer> {
    return this.request((requestId) => ({ type: "cuda-offer", requestId }));
  }

  async cudaAnswer(answer: "later" | "never"): Promise<void> {
    await this.send({ type: "cuda-answer", answer });
  }

  /** Builds the CUDA backend into `storeDir` (minutes); `signal` cancels. Rejects with EngineRequestError. */
  buildCuda(storeDir: string, hooks: { onProgress?: (p: BuildProgress) => void; onLine?: (line: string) => void; signal?: AbortSignal } = {}): Promise<BuildResult> {
    const progress = (p: BuildProgress | undefined, line?: string): void => {
      if (p) hooks.onProgress?.(p);
      if (line !== undefined) hooks.onLine?.(line);
    };
    return this.request((requestId) => ({ type: "build-cuda", requestId, storeDir }), progress as (p: never, line?: string) => void, hooks.signal);
  }

  /** Runs a plan this engine made; the run's events arrive through onEvent. */
  async run(runId: string, planId: string): Promise<void> {
    this.runs.add(runId);
    await this.send({ type: "run", runId, planId });
  }

  dropPlan(planId: string): void {
    this.child?.send({ type: "drop-plan", planId } satisfies ToEngine);
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

  /** Resolves when the engine says the run has ended (its last event sent), or the process is gone. */
  whenRunEnded(runId: string): Promise<void> {
    if (!this.runs.has(runId)) return Promise.resolve();
    return new Promise((resolve) => this.endWaiters.set(runId, [...(this.endWaiters.get(runId) ?? []), resolve]));
  }

  private wake(runId: string): void {
    for (const resolve of this.endWaiters.get(runId) ?? []) resolve();
    this.endWaiters.delete(runId);
  }

  /** Asks the engine to stop and waits for it to go, killing it if it takes longer than `graceMs`. */
  async dispose(graceMs = 3000): Promise<void> {
    this.disposed = true;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const gone = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    if (child.connected) child.send({ type: "shutdown" } satisfies ToEngine);
    const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
    await gone;
    clearTimeout(timer);
  }

  /**
   * Ends the engine's process quietly, as dispose does, but the next request starts a fresh one:
   * what a process loads once (node-llama-cpp's backend) is then chosen again.
   */
  async restart(graceMs = 3000): Promise<void> {
    await this.dispose(graceMs);
    this.disposed = false;
  }

  /** Ends the engine at once (a second Ctrl-C): nothing it was doing matters any more. */
  kill(): void {
    this.disposed = true;
    this.child?.kill("SIGKILL");
  }
}
