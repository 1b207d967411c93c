// The one place a question is put together: resolve the model, tokenize the codebase with the
// model's own vocabulary (no weights needed), keep the plan under an id while the model loads,
// then run that plan. The engine's process (service.ts) serves it to the extension and the CLI;
// the CLI's `pack` uses planCodebaseFor directly, in its own process.
import { randomUUID } from "node:crypto";
import { statSync } from "node:fs";
import { basename, dirname, isAbsolute, join, resolve } from "node:path";
import { DiskStateCache } from "../core/cache/stateCache";
import { planCodebase, type CodebasePlan, type PlanChanges, type PlanOptions } from "../core/plan";
import { describeListings } from "../core/workspace/listing";
import { describeSkipped } from "../shared/describe";
import { ContextTooSmallError, isAbortError } from "../core/wim/engine";
import { MAX_QUESTION_TOKENS, WimSession } from "../core/wim/session";
import type { WimEvent } from "../core/wim/events";
import type { EditorView, EngineFailure, PlanEstimate, PlanProgress, PlanSummary } from "../shared/engineProtocol";
import { engineKey, isRemoteModel, type GpuChoice, type RunSettings } from "../shared/settings";
import { chooseBackend, type BackendMemory } from "./backend/backendChoice";
import { BuildStore, defaultBuildStoreDir } from "./backend/cudaBuild";
import { estimatePlan, measurePrompts, planWindows, SpeedMemory } from "./estimate";
import { LlamaEngine, openLlamaEngine } from "./llama/llamaEngine";
import { ModelFileError } from "./model/modelFile";
import { DownloadError, resolveModel } from "./model/modelResolve";
import { ServerError } from "./server/serverApi";
import { openServerEngine, type ServerEngine } from "./server/serverEngine";
import { openTokenizer, type Tokenizer } from "./tokens/tokenizer";

/** A mistake in what was asked (nothing to read, a question too long): the user can fix it. */
export class InputError extends Error {
  override name = "InputError";
}

/** A plan waiting to run: what the user was shown, with everything it read and tokenized. */
export interface Planned {
  summary: PlanSummary;
  question: string;
  settings: RunSettings;
  modelPath: string;
  plan: CodebasePlan;
}

export interface PlanHooks {
  signal?: AbortSignal;
  onProgress?: (progress: PlanProgress) => void;
  /** What the editor shows: unsaved text read in place of the disk's, and files its settings hide left out. */
  editor?: EditorView;
}

type Engine = LlamaEngine | ServerEngine;

/** Plans kept at once: each holds a codebase's text and tokens. */
const MAX_PLANS = 2;

/** The model file a setting names: a path (relative to `base`), or an hf: URI or URL, downloaded once. */
export async function modelFileFor(settings: Pick<RunSettings, "model" | "modelDirectory" | "modelEndpoint">, hooks: PlanHooks = {}, base = process.cwd()): Promise<string> {
  const spec = settings.model.trim();
  if (!spec) throw new ModelFileError("no model is set");
  if (!isRemoteModel(spec)) return isAbsolute(spec) ? spec : resolve(base, spec);
  return resolveModel(spec, {
    directory: settings.modelDirectory,
    endpoint: settings.modelEndpoint,
    ...(hooks.signal ? { signal: hooks.signal } : {}),
    ...(hooks.onProgress ? { onProgress: (downloaded: number, total: number) => hooks.onProgress!({ stage: "downloading", downloaded, total }) } : {}),
  });
}

/** How a plan reads a codebase with a tokenizer: the settings' scope, its order, its tokens kept or not. */
export function planOptions(settings: Pick<RunSettings, "segmentTokens" | "include" | "exclude" | "respectGitignore" | "submodules" | "encoding" | "maxFileKiB">, tokenizer: Tokenizer, keepTokens: boolean, hooks: PlanHooks = {}): PlanOptions {
  return {
    segmentTokens: settings.segmentTokens,
    countTokens: tokenizer.countTokens,
    ...(keepTokens ? { tokenize: tokenizer.tokenize } : {}),
    measureFiles: tokenizer.measureFiles,
    onSize: (bytes) => {
      hooks.onProgress?.({ stage: "tokenizing", bytes });
      tokenizer.prewarm(bytes);
    },
    onProgress: (p) => hooks.onProgress?.({ stage: "reading", seen: p.seen, files: p.files, bytes: p.bytes }),
    include: settings.include,
    exclude: settings.exclude,
    maxFileBytes: settings.maxFileKiB * 1024,
    respectGitignore: settings.respectGitignore,
    submodules: settings.submodules,
    ...(settings.encoding ? { encoding: settings.encoding } : hooks.editor?.encodings?.length ? { folderEncodings: hooks.editor.encodings } : {}),
    order: "recent-last",
    ...(hooks.signal ? { signal: hooks.signal } : {}),
    ...(hooks.editor?.unsaved?.length ? { unsaved: new Map(hooks.editor.unsaved.map((u) => [u.path, u.text])) } : {}),
    ...(hooks.editor?.excludes?.length ? { excludes: hooks.editor.excludes } : {}),
  };
}

/** A plan to look at, not to run (`ask-codebase pack`): counts only, in this process, no weights loaded. */
export async function planCodebaseFor(roots: readonly string[], settings: RunSettings, hooks: PlanHooks = {}): Promise<CodebasePlan> {
  const modelPath = await modelFileFor(settings, hooks);
  const tokenizer = await openTokenizer(modelPath, { countOnly: true });
  try {
    return await planCodebase(roots, planOptions(settings, tokenizer, false, hooks));
  } finally {
    await tokenizer.dispose();
  }
}

export class Pipeline {
  private engine?: { key: string; engine: Promise<Engine> };
  private tokenizer?: { modelPath: string; tokenizer: Promise<Tokenizer> };
  private readonly plans = new Map<string, Planned>();
  /** Characters tokenizers now closed went over, for the stats. */
  private closedChars = 0;

  private readonly speeds: SpeedMemory;

  constructor(private readonly backends: BackendMemory, private readonly onStatus: (text: string) => void = () => undefined) {
    this.speeds = new SpeedMemory(join(dirname(backends.file), "speeds.json"));
    for (const backend of backends.recoverCrashes()) onStatus(`the last engine process died while running on ${backend}: it will not be used again on this machine (delete ${backends.file} to try it again)`);
  }

  get planCount(): number {
    return this.plans.size;
  }

  /** Characters of file text counted or tokenized so far, planning and runs together. */
  async tokenizedChars(): Promise<number> {
    const open = await this.tokenizer?.tokenizer.catch(() => undefined);
    return this.closedChars + (open?.tokenizedChars ?? 0);
  }

  /** The engine, if one is loaded or loading. */
  async loadedEngine(): Promise<Engine | undefined> {
    return this.engine?.engine.catch(() => undefined);
  }

  /**
   * Reads and tokenizes the codebase for `question`, keeps the plan, and starts loading the model
   * so that it is ready when the user says go.
   */
  async plan(roots: readonly string[], question: string, settings: RunSettings, hooks: PlanHooks = {}): Promise<Planned> {
    if (!question.trim()) throw new InputError("the question is empty");
    const modelPath = await modelFileFor(settings, hooks);
    const tokenizer = await this.tokenizerFor(modelPath);
    await tokenizer.ready();
    const questionTokens = tokenizer.countTokens(question);
    if (questionTokens > MAX_QUESTION_TOKENS) {
      throw new InputError(`the question is too long: ${questionTokens.toLocaleString("en-US")} tokens, at most ${MAX_QUESTION_TOKENS.toLocaleString("en-US")}`);
    }
    // Loading the weights overlaps reading the codebase; a failure shows when the plan runs.
    void this.engineFor(settings, modelPath).catch(() => undefined);
    hooks.onProgress?.({ stage: "reading" });
    const plan = await planCodebase(roots, planOptions(settings, tokenizer, true, hooks));
    if (!plan.files.length) {
      // Say why, so that a folder of binaries is not mistaken for a wrong path or an ignore rule.
      const n = plan.skipped.length;
      throw new InputError(`nothing to read${n ? ` (${n.toLocaleString("en-US")} ${n === 1 ? "file" : "files"} skipped: ${describeSkipped(plan.skippedByReason)})` : ""}`);
    }
    const promptSizes = measurePrompts(question, tokenizer.countPrompt);
    const windows = planWindows({
      sizes: plan.outline.map((o) => o.tokens), contextLength: tokenizer.contextLength ?? 0, prompts: promptSizes,
      marginTokens: settings.marginTokens, answerTokens: settings.answerTokens,
    });
    // More than one window: the window holding the likeliest files is read first. The files keep
    // their places, and so the windows theirs, which the warm cache keeps between questions.
    if (windows > 1) plan.readFirstFor(question);
    const summary: PlanSummary = {
      planId: randomUUID(), files: plan.files.length, bytes: plan.bytes, tokens: plan.totalTokens, segments: plan.segmentCount,
      skipped: plan.skipped.length, skippedByReason: plan.skippedByReason, decodedByEncoding: plan.decodedByEncoding, unsaved: plan.unsaved, dataHeads: plan.dataHeads, contextSize: tokenizer.contextLength ?? 0, model: basename(modelPath),
      listing: describeListings(plan.listings), order: plan.order,
      estimate: await this.estimate(plan, windows, promptSizes.extract, settings, modelPath),
    };
    const planned: Planned = { summary, question, settings, modelPath, plan };
    this.plans.set(summary.planId, planned);
    for (const id of [...this.plans.keys()].slice(0, Math.max(0, this.plans.size - MAX_PLANS))) this.plans.delete(id);
    return planned;
  }

  /** Windows and a time range for a plan: measured speeds for this model where there are some. */
  private async estimate(plan: CodebasePlan, windows: number, extractTokens: number, settings: RunSettings, modelPath: string): Promise<PlanEstimate> {
    // The model loads while the codebase is read: where it ended up running, if it has by now.
    let timer: Parameters<typeof clearTimeout>[0];
    const engine = await Promise.race([this.engine?.engine.catch(() => undefined), new Promise<undefined>((done) => { timer = setTimeout(done, 1500) as Parameters<typeof clearTimeout>[0]; })]);
    clearTimeout(timer);
    const where = settings.serverUrl || (engine instanceof LlamaEngine && engine.info.backend !== "cpu") ? "gpu" : "cpu";
    const measured = this.speeds.get(speedKey(modelPath));
    return estimatePlan({
      tokens: plan.totalTokens, segments: plan.segmentCount, windows, extractTokens,
      marginTokens: settings.marginTokens, answerTokens: settings.answerTokens, modelBytes: fileBytes(modelPath), where,
      ...(measured ? { measured } : {}),
    });
  }

  /** A finished run's speed, for the next plan's estimate. */
  async rememberSpeed(done: Extract<WimEvent, { type: "done" }>): Promise<void> {
    const engine = await this.loadedEngine();
    if (engine instanceof LlamaEngine) this.speeds.remember(speedKey(engine.modelPath), engine.info.backend, done);
  }

  drop(planId: string): void {
    this.plans.delete(planId);
  }

  /**
   * The session for a plan made here: the files changed since are read again first (`changes`),
   * and the plan is let go (it runs once).
   */
  async open(planId: string, runId: string, signal: AbortSignal): Promise<{ session: WimSession; changes: PlanChanges }> {
    const planned = this.plans.get(planId);
    if (!planned) throw new InputError("that plan is no longer held (the engine restarted, or newer questions replaced it): ask again");
    this.plans.delete(planId);
    const { settings, plan, question } = planned;
    const tokenizer = await this.tokenizerFor(planned.modelPath);
    const changes = await plan.refresh(planOptions(settings, tokenizer, true, { signal }));
    if (!plan.files.length) throw new InputError("nothing to read: every planned file is gone");
    const engine = await this.engineFor(settings, planned.modelPath, signal);
    const scores = plan.segmentScores;
    const session = new WimSession(engine, { segments: plan.segments, files: plan.files.length, ...(scores ? { scores } : {}) }, question, {
      runId, signal, marginTokens: settings.marginTokens, answerTokens: settings.answerTokens, classify: settings.classify,
      ...(settings.cacheSizeMiB > 0 ? { cache: new DiskStateCache(settings.cacheDir, settings.cacheSizeMiB * 1048576) } : {}),
      ...(changes.changed.length || changes.removed.length ? { changes } : {}),
    });
    return { session, changes };
  }

  /** Until the returned function is called, a GPU that kills this process is remembered as failed by the next one. */
  async guardBackend(): Promise<() => void> {
    const engine = await this.loadedEngine();
    return this.backends.running(engine instanceof LlamaEngine ? (engine.info.backend as GpuChoice) : "cpu");
  }

  /** The tokenizer for a model, kept between questions: its memory of pieces makes the next plan faster. */
  private tokenizerFor(modelPath: string): Promise<Tokenizer> {
    if (this.tokenizer?.modelPath !== modelPath) {
      const previous = this.tokenizer?.tokenizer;
      void previous?.then(async (t) => { this.closedChars += t.tokenizedChars; await t.dispose(); }, () => undefined);
      const tokenizer = openTokenizer(modelPath);
      this.tokenizer = { modelPath, tokenizer };
      tokenizer.catch(() => { if (this.tokenizer?.tokenizer === tokenizer) this.tokenizer = undefined; });
    }
    return this.tokenizer!.tokenizer;
  }

  /** A backend built here earlier, put back where node-llama-cpp looks if an update took it away. */
  private restoreBuilds(dir = defaultBuildStoreDir()): void {
    try {
      const restored = new BuildStore(dir).restore();
      if (restored.length) this.onStatus(`put back the CUDA backend built on this machine earlier (${restored.join(", ")})`);
    } catch (err) {
      this.onStatus(`could not put back the CUDA backend built here earlier: ${(err as Error).message}`);
    }
  }

  /** One engine, kept loaded between questions while the settings it depends on stay the same. */
  engineFor(settings: RunSettings, modelPath: string, signal?: AbortSignal): Promise<Engine> {
    const key = `${engineKey(settings)}|${modelPath}`;
    if (this.engine?.key !== key) {
      const previous = this.engine?.engine;
      this.onStatus("loading the model");
      const engine = (async () => {
        await (await previous?.catch(() => undefined))?.dispose();
        if (settings.serverUrl) {
          this.onStatus(`connecting to ${settings.serverUrl}`);
          return openServerEngine({
            url: settings.serverUrl, modelPath, ...(settings.serverKind !== "auto" ? { kind: settings.serverKind } : {}),
            ...(settings.serverModel ? { model: settings.serverModel } : {}), ...(settings.serverApiKey ? { apiKey: settings.serverApiKey } : {}),
          });
        }
        if (settings.gpu !== "cpu") this.restoreBuilds(settings.backendBuildDir);
        const choice = await chooseBackend(settings.gpu, modelPath, this.backends, { onStatus: this.onStatus });
        return openLlamaEngine({
          modelPath, gpu: choice.backend, ...(choice.note ? { backendNote: choice.note } : {}),
          ...(settings.threads ? { threads: settings.threads } : {}),
          ...(settings.gpuMemoryReserveMiB ? { gpuReserveMiB: settings.gpuMemoryReserveMiB } : {}),
        });
      })();
      this.engine = { key, engine };
      engine.catch(() => { if (this.engine?.engine === engine) this.engine = undefined; });
    }
    const engine = this.engine.engine;
    if (!signal) return engine;
    // Waiting for a load can be cancelled; the load itself goes on for the next question.
    return new Promise<Engine>((done, fail) => {
      const onAbort = (): void => fail(new DOMException("The run was cancelled", "AbortError"));
      if (signal.aborted) return onAbort();
      signal.addEventListener("abort", onAbort, { once: true });
      engine.then(done, fail).finally(() => signal.removeEventListener("abort", onAbort));
    });
  }

  async dispose(): Promise<void> {
    this.plans.clear();
    await (await this.engine?.engine.catch(() => undefined))?.dispose();
    await (await this.tokenizer?.tokenizer.catch(() => undefined))?.dispose();
  }
}

function fileBytes(path: string): number {
  try {
    return statSync(path).size;
  } catch {
    return 0;
  }
}

/** Speeds are per model file: its name and size tell a re-downloaded or other quantisation apart. */
function speedKey(modelPath: string): string {
  return `${basename(modelPath)}|${fileBytes(modelPath)}`;
}

/** What went wrong, in the words and kind the hosts act on. */
export function failureOf(err: unknown): EngineFailure {
  const message = (err as Error)?.message ?? String(err);
  if (isAbortError(err)) return { message: "cancelled", kind: "cancelled" };
  if (err instanceof DownloadError) return { message, kind: "download" };
  if (err instanceof ModelFileError) return { message, kind: "model" };
  if (err instanceof InputError || err instanceof ContextTooSmallError) return { message, kind: "input" };
  if (err instanceof ServerError) return { message, kind: "server" };
  return { message, kind: "internal" };
}
