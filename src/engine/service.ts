// The engine process's work, independent of how messages arrive: keeps one model loaded between
// questions, plans and runs questions one at a time, and routes control messages to the run they
// name. A message for a run that has ended is ignored.
import { DiskStateCache } from "../core/cache/stateCache";
import { planCodebase, type CodebasePlan } from "../core/plan";
import { WimSession } from "../core/wim/session";
import type { FromEngine, PlanSummary, RunSettings, ToEngine } from "../shared/engineProtocol";
import { BackendMemory, chooseBackend, defaultBackendMemory } from "./backend/backendChoice";
import { LlamaEngine, openLlamaEngine } from "./llama/llamaEngine";
import { openServerEngine, type ServerEngine } from "./server/serverEngine";
import { resolveModel } from "./model/modelResolve";

export class EngineService {
  private engine?: { key: string; engine: Promise<LlamaEngine | ServerEngine> };
  private run?: { runId: string; session?: WimSession; controller: AbortController };
  private last?: { runId: string; session: WimSession };
  /** Questions and re-answers run one after another; `latest` names the one the user wants now. */
  private chain: Promise<void> = Promise.resolve();
  private readonly downloads = new Map<string, AbortController>();
  private latest?: string;

  constructor(private readonly send: (message: FromEngine) => void, private readonly backends: BackendMemory = defaultBackendMemory()) {}

  async handle(message: ToEngine): Promise<void> {
    switch (message.type) {
      case "plan":
        await this.plan(message.requestId, message.roots, message.settings);
        return;
      case "ask":
        await this.ask(message.runId, message.roots, message.question, message.settings);
        return;
      case "answer-now":
        if (this.run?.runId === message.runId) this.run.session?.answerNow();
        return;
      case "stop":
        if (this.run?.runId === message.runId) this.run.controller.abort();
        return;
      case "reject":
        this.sessionFor(message.runId)?.setRejected(message.segment, message.rejected);
        return;
      case "reanswer":
        await this.reanswer(message.runId);
        return;
      case "resolve-model":
        await this.resolveModel(message.requestId, message.spec, message.directory);
        return;
      case "cancel-resolve":
        this.downloads.get(message.requestId)?.abort();
        return;
      case "stats": {
        const engine = await this.engine?.engine.catch(() => undefined);
        // With --expose-gc (the soak test) garbage is collected first, so what remains is what is held.
        (globalThis as { gc?: () => void }).gc?.();
        const memory = process.memoryUsage();
        // A server engine holds no context here: its sequences are token lists.
        const held = engine instanceof LlamaEngine ? engine.holdings : { contexts: 0, sequences: 0 };
        this.send({
          type: "stats", requestId: message.requestId,
          stats: { rssBytes: memory.rss, heapUsedBytes: memory.heapUsed, ...held, modelsLoaded: engine ? 1 : 0 },
        });
        return;
      }
      case "crash":
        // For tests of the extension's recovery: a native abort, as a GPU driver fault would cause.
        process.abort();
        return;
      case "shutdown":
        // Queued questions end unread (superseded); the running one stops at its next token.
        this.latest = undefined;
        this.run?.controller.abort();
        await this.chain;
        await (await this.engine?.engine.catch(() => undefined))?.dispose();
        return;
      default: {
        const never: never = message;
        throw new Error(`unknown message ${JSON.stringify(never)}`);
      }
    }
  }

  private async resolveModel(requestId: string, spec: string, directory: string): Promise<void> {
    const controller = new AbortController();
    this.downloads.set(requestId, controller);
    try {
      const path = await resolveModel(spec, {
        directory,
        signal: controller.signal,
        onProgress: (downloaded, total) => this.send({ type: "model-progress", requestId, downloaded, total }),
      });
      this.send({ type: "model-resolved", requestId, path });
    } catch (err) {
      this.send({ type: "model-resolved", requestId, error: controller.signal.aborted ? "cancelled" : (err as Error).message });
    } finally {
      this.downloads.delete(requestId);
    }
  }

  /** Runs `work` after whatever question or re-answer is ahead of it; the chain settles when all have ended. */
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

  private loadEngine(settings: RunSettings, signal?: AbortSignal): Promise<LlamaEngine | ServerEngine> {
    const server = settings.server;
    const key = JSON.stringify([settings.modelPath, settings.gpu, settings.threads, settings.gpuReserveMiB ?? 0, server?.url, server?.kind, server?.model, server?.apiKey]);
    if (this.engine?.key !== key) {
      const previous = this.engine?.engine;
      this.send({ type: "status", text: "loading the model" });
      const engine = (async () => {
        await (await previous?.catch(() => undefined))?.dispose();
        if (server) {
          this.send({ type: "status", text: `connecting to ${server.url}` });
          return openServerEngine({ ...server, modelPath: settings.modelPath, ...(signal ? { signal } : {}) });
        }
        const choice = await chooseBackend(settings.gpu, settings.modelPath, this.backends, { onStatus: (text) => this.send({ type: "status", text }) });
        return openLlamaEngine({
          modelPath: settings.modelPath, gpu: choice.backend, ...(choice.note ? { backendNote: choice.note } : {}),
          ...(settings.threads ? { threads: settings.threads } : {}), ...(signal ? { signal } : {}),
          ...(settings.gpuReserveMiB ? { gpuReserveMiB: settings.gpuReserveMiB } : {}),
        });
      })();
      this.engine = { key, engine };
      engine.catch(() => { if (this.engine?.engine === engine) this.engine = undefined; });
    }
    return this.engine.engine;
  }

  private async planFor(roots: string[], settings: RunSettings, engine: LlamaEngine | ServerEngine, signal?: AbortSignal): Promise<CodebasePlan> {
    return planCodebase(roots, {
      segmentTokens: settings.segmentTokens,
      countTokens: engine.countText,
      include: settings.include,
      exclude: settings.exclude,
      respectGitignore: settings.respectGitignore,
      order: "recent-last",
      ...(signal ? { signal } : {}),
    });
  }

  private async plan(requestId: string, roots: string[], settings: RunSettings): Promise<void> {
    try {
      const engine = await this.loadEngine(settings);
      const plan = await this.planFor(roots, settings, engine);
      const summary: PlanSummary = {
        files: plan.files.length, bytes: plan.bytes, tokens: plan.totalTokens, segments: plan.segments.length,
        skipped: plan.skipped.length, skippedByReason: plan.skippedByReason, contextSize: engine.info.trainContextSize,
      };
      this.send({ type: "planned", requestId, summary });
    } catch (err) {
      this.send({ type: "planned", requestId, error: (err as Error).message });
    }
  }

  /** A new question stops the one running (at its next token) and runs once that has ended. */
  private ask(runId: string, roots: string[], question: string, settings: RunSettings): Promise<void> {
    this.latest = runId;
    this.run?.controller.abort();
    return this.enqueue(() => this.runAsk(runId, roots, question, settings));
  }

  private async runAsk(runId: string, roots: string[], question: string, settings: RunSettings): Promise<void> {
    const controller = new AbortController();
    this.run = { runId, controller };
    const emit = (event: FromEngine): void => this.send(event);
    // Superseded by a later question before its turn came: it ends without reading.
    if (this.latest !== runId) controller.abort();
    try {
      if (controller.signal.aborted) throw new DOMException("superseded", "AbortError");
      const engine = await this.loadEngine(settings, controller.signal);
      const plan = await this.planFor(roots, settings, engine, controller.signal);
      if (!plan.files.length) throw new Error(`nothing to read${plan.skipped.length ? ` (${plan.skipped.length} files skipped)` : ""}`);
      const session = new WimSession(engine, { segments: plan.segments, files: plan.files.length }, question, {
        runId, signal: controller.signal, marginTokens: settings.marginTokens, answerTokens: settings.answerTokens, classify: settings.classify,
        ...(settings.cacheLimitBytes > 0 ? { cache: new DiskStateCache(settings.cacheDir, settings.cacheLimitBytes) } : {}),
      });
      this.run.session = session;
      for await (const event of session.run()) emit({ type: "event", event });
      this.last = { runId, session };
    } catch (err) {
      if (controller.signal.aborted) {
        emit({ type: "event", event: { type: "done", runId, stoppedBy: "aborted", answer: "", segmentsRead: 0, timings: { totalMs: 0, prefillMs: 0, marginMs: 0, classifyMs: 0, answerMs: 0 }, tokens: { prefilled: 0, margins: 0, answer: 0, evaluated: 0 } } });
      } else {
        emit({ type: "event", event: { type: "error", runId, message: (err as Error).message } });
      }
    } finally {
      this.run = undefined;
      emit({ type: "run-ended", runId });
    }
  }

  private reanswer(runId: string): Promise<void> {
    return this.enqueue(() => this.runReanswer(runId));
  }

  private async runReanswer(runId: string): Promise<void> {
    if (this.last?.runId !== runId) {
      this.send({ type: "event", event: { type: "error", runId, message: "nothing to re-answer: the run has ended or another is reading" } });
      return;
    }
    const controller = new AbortController();
    this.run = { runId, session: this.last.session, controller };
    this.latest = runId;
    try {
      for await (const event of this.last.session.reanswer(controller.signal)) this.send({ type: "event", event });
    } finally {
      this.run = undefined;
      this.send({ type: "run-ended", runId });
    }
  }
}
