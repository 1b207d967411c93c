// The engine process's work, independent of how messages arrive: plans through the pipeline,
// runs plans one at a time, and routes control messages to the run they name. A message for a
// run that has ended is ignored. The run's state (kept, rejected, verdicts, the answer's margins
// and citations) is the session's, and leaves here only as events.
import type { WimSession } from "../core/wim/session";
import { unreadDone, type WimEvent } from "../core/wim/events";
import type { FromEngine, ToEngine } from "../shared/engineProtocol";
import { localMachine } from "../shared/modelCatalog";
import { BackendMemory, defaultBackendMemory, describeGpu } from "./backend/backendChoice";
import { BuildRefused, buildHere, cudaBuildMemoryBeside, offerOnce } from "./backend/cudaBuild";
import { LlamaEngine } from "./llama/llamaEngine";
import { failureOf, Pipeline } from "./pipeline";

export class EngineService {
  private readonly pipeline: Pipeline;
  private run?: { runId: string; session?: WimSession; controller: AbortController };
  private last?: { runId: string; session: WimSession };
  /** Runs and re-answers go one after another; `latest` names the one the user wants now. */
  private chain: Promise<void> = Promise.resolve();
  private latest?: string;
  /** Plans being made and CUDA builds running, so that a cancel reaches them. */
  private readonly planning = new Map<string, AbortController>();

  constructor(private readonly send: (message: FromEngine) => void, private readonly backends: BackendMemory = defaultBackendMemory()) {
    this.pipeline = new Pipeline(backends, (text) => this.send({ type: "status", text }));
  }

  async handle(message: ToEngine): Promise<void> {
    switch (message.type) {
      case "plan":
        await this.plan(message);
        return;
      case "cancel":
        this.planning.get(message.requestId)?.abort();
        return;
      case "drop-plan":
        this.pipeline.drop(message.planId);
        return;
      case "run":
        await this.startRun(message.runId, message.planId);
        return;
      case "answer-now":
        if (this.run?.runId === message.runId) this.run.session?.answerNow();
        return;
      case "stop":
        if (this.run?.runId === message.runId) this.run.controller.abort();
        // Not started yet (queued, or its message still on the way to runPlan): it ends unread.
        if (this.latest === message.runId) this.latest = undefined;
        return;
      case "reject": {
        const state = this.sessionFor(message.runId)?.setRejected(message.segment, message.rejected);
        if (state) this.emit(state);
        return;
      }
      case "reanswer":
        await this.reanswer(message.runId);
        return;
      case "stats":
        await this.stats(message.requestId);
        return;
      case "machine": {
        const gpu = await describeGpu();
        this.send({ type: "machine", requestId: message.requestId, machine: { ...localMachine(), ...(gpu ? { gpu: { name: gpu.name, vramBytes: gpu.vramBytes } } : {}) } });
        return;
      }
      case "cuda-offer":
        this.send({ type: "cuda-offer", requestId: message.requestId, offer: await offerOnce(this.backends) });
        return;
      case "cuda-answer":
        cudaBuildMemoryBeside(this.backends).update({ answer: message.answer });
        return;
      case "build-cuda":
        await this.buildCuda(message.requestId, message.storeDir);
        return;
      case "crash":
        // For tests of the hosts' recovery: a native abort, as a GPU driver fault would cause.
        process.abort();
        return;
      case "shutdown":
        // Queued runs end unread (superseded); the running one stops at its next token.
        this.latest = undefined;
        for (const c of this.planning.values()) c.abort();
        this.run?.controller.abort();
        await this.chain;
        await this.pipeline.dispose();
        return;
      default: {
        const never: never = message;
        throw new Error(`unknown message ${JSON.stringify(never)}`);
      }
    }
  }

  private emit(event: WimEvent): void {
    this.send({ type: "event", event });
  }

  private async plan(message: Extract<ToEngine, { type: "plan" }>): Promise<void> {
    const { requestId } = message;
    const controller = new AbortController();
    this.planning.set(requestId, controller);
    try {
      const planned = await this.pipeline.plan(message.roots, message.question, message.settings, {
        signal: controller.signal,
        onProgress: (progress) => this.send({ type: "plan-progress", requestId, progress }),
        ...(message.editor ? { editor: message.editor } : {}),
      });
      this.send({ type: "planned", requestId, summary: planned.summary });
    } catch (err) {
      this.send({ type: "planned", requestId, error: controller.signal.aborted ? { message: "cancelled", kind: "cancelled" } : failureOf(err) });
    } finally {
      this.planning.delete(requestId);
    }
  }

  /** The CUDA build in a process of its own (node-llama-cpp's); a `cancel` with its id stops it. */
  private async buildCuda(requestId: string, storeDir: string): Promise<void> {
    const controller = new AbortController();
    this.planning.set(requestId, controller);
    try {
      const result = await buildHere(this.backends, storeDir, {
        signal: controller.signal,
        onProgress: (progress) => this.send({ type: "build-progress", requestId, progress }),
        onLine: (line) => this.send({ type: "build-progress", requestId, line }),
      });
      this.send({ type: "built", requestId, result });
    } catch (err) {
      const kind = controller.signal.aborted ? "cancelled" : err instanceof BuildRefused ? "input" : "internal";
      this.send({ type: "built", requestId, error: { message: kind === "cancelled" ? "cancelled" : (err as Error).message, kind } });
    } finally {
      this.planning.delete(requestId);
    }
  }

  private async stats(requestId: string): Promise<void> {
    const engine = await this.pipeline.loadedEngine();
    // With --expose-gc (the soak test) garbage is collected first, so what remains is what is held.
    (globalThis as { gc?: () => void }).gc?.();
    const memory = process.memoryUsage();
    // A server engine holds no context here: its sequences are token lists.
    const held = engine instanceof LlamaEngine ? engine.holdings : { contexts: 0, sequences: 0 };
    this.send({
      type: "stats", requestId,
      stats: {
        rssBytes: memory.rss, heapUsedBytes: memory.heapUsed, ...held, modelsLoaded: engine ? 1 : 0,
        plans: this.pipeline.planCount, tokenizedChars: await this.pipeline.tokenizedChars(),
      },
    });
  }

  /** Runs `work` after whatever run or re-answer is ahead of it; the chain settles when all have ended. */
  private enqueue(work: () => Promise<void>): Promise<void> {
    const turn = this.chain.then(work);
    this.chain = turn.catch(() => undefined);
    return turn;
  }

  private sessionFor(runId: string): WimSession | undefined {
    if (this.run?.runId === runId) return this.run.session;
    if (this.last?.runId === runId) return this.last.session;
    return undefined;
  }

  /** A new run stops the one running (at its next token) and starts once that has ended. */
  private startRun(runId: string, planId: string): Promise<void> {
    this.latest = runId;
    this.run?.controller.abort();
    return this.enqueue(() => this.runPlan(runId, planId));
  }

  private async runPlan(runId: string, planId: string): Promise<void> {
    const controller = new AbortController();
    this.run = { runId, controller };
    // Superseded by a later run before its turn came: it ends without reading.
    if (this.latest !== runId) controller.abort();
    try {
      if (controller.signal.aborted) throw new DOMException("superseded", "AbortError");
      const { session } = await this.pipeline.open(planId, runId, controller.signal);
      this.run.session = session;
      const release = await this.pipeline.guardBackend();
      try {
        for await (const event of session.run()) {
          this.emit(event);
          if (event.type === "done") await this.pipeline.rememberSpeed(event);
        }
      } finally {
        release();
      }
      this.last = { runId, session };
    } catch (err) {
      if (controller.signal.aborted) {
        this.emit(unreadDone(runId));
      } else {
        this.emit({ type: "error", runId, message: failureOf(err).message });
      }
    } finally {
      this.run = undefined;
      this.send({ type: "run-ended", runId });
    }
  }

  private reanswer(runId: string): Promise<void> {
    return this.enqueue(() => this.runReanswer(runId));
  }

  private async runReanswer(runId: string): Promise<void> {
    if (this.last?.runId !== runId) {
      this.emit({ type: "error", runId, message: "nothing to re-answer: the run has ended or another is reading" });
      this.send({ type: "run-ended", runId });
      return;
    }
    const controller = new AbortController();
    this.run = { runId, session: this.last.session, controller };
    this.latest = runId;
    const release = await this.pipeline.guardBackend();
    try {
      for await (const event of this.last.session.reanswer(controller.signal)) this.emit(event);
    } finally {
      release();
      this.run = undefined;
      this.send({ type: "run-ended", runId });
    }
  }
}
