// One question at a time, from the palette, the sidebar or the API: ask the engine for a plan
// (it reads and tokenizes the workspace once and starts loading the model), show the summary
// when the codebase is large, run that plan, and carry out what the user does meanwhile.
// The engine owns the run's state; the store records its events for the view and status bar.
import { randomUUID } from "node:crypto";
import { isAbsolute, join, resolve } from "node:path";
import * as vscode from "vscode";
import { EngineRequestError, type EngineClient } from "../client/engineClient";
import { unreadDone, type WimEvent } from "../core/wim/events";
import type { PlanProgress, PlanSummary, RunSettings } from "../shared/engineProtocol";
import { isRemoteModel, type Settings } from "../shared/settings";
import { codebaseCacheDirectory } from "./clearCache";
import { readConfig } from "./config";
import { confirmPlan } from "./confirm";
import { backendBuildDirectory } from "./cudaOffer";
import { chooseFirstModel, learnMachine } from "./firstModel";
import type { RunLog } from "./log";
import type { RunStore } from "./runStore";
import { serverApiKey } from "./serverKey";
import { editorView } from "./editorView";
import { formatBytes } from "../core/bytes";

export class Questions {
  /** The plan being made for the current run, so that Stop reaches it. */
  private planning?: { runId: string; controller: AbortController };
  /** Resolves the view's progress indicator for the run that showed it. */
  private endProgress?: () => void;
  revealView: () => Promise<void> = async () => undefined;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly client: EngineClient,
    private readonly store: RunStore,
    private readonly log: RunLog,
    /** Told which backend each run started on (the CUDA build offer listens). */
    private readonly onBackend: (backend: string) => void = () => undefined,
  ) {}

  /** The engine's events: recorded, logged, and an error shown. */
  onEvent(event: WimEvent): void {
    this.store.apply(event);
    this.log.event(event);
    if (event.runId !== this.store.current?.runId) return;
    if (event.type === "run-started") {
      this.onBackend(event.backend);
    } else if (event.type === "done") {
      this.stopProgress();
    } else if (event.type === "error") {
      this.stopProgress();
      void this.showError(event.message, "run", event.setting);
    }
  }

  onStatus(text: string): void {
    const run = this.store.current;
    if (run && run.phase !== "ended") this.store.status(run.runId, text);
  }

  /**
   * Asks `question` (or prompts for one) about `roots` (or the workspace). Returns the run id once
   * the run has started, or undefined if the user backed out or it could not start.
   */
  async ask(question?: string, options: { roots?: string[]; confirm?: boolean } = {}): Promise<string | undefined> {
    let roots = options.roots ?? (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath);
    // Before the question is typed: a question about no folder would be thrown away.
    if (!roots.length) {
      const pick = await vscode.window.showWarningMessage("Ask codebase: open a folder to ask about first.", "Open Folder...");
      if (pick) await vscode.commands.executeCommand("workbench.action.files.openFolder");
      return undefined;
    }
    // No model chosen yet: ask which before anything downloads (a question typed in the view stays there).
    if (!readConfig((p) => this.log.settingProblem(p)).model.trim()) {
      await learnMachine(this.client);
      if (!(await chooseFirstModel())) return undefined;
    }
    const text = (question ?? (await vscode.window.showInputBox({
      title: "Ask codebase",
      prompt: "Ask a question about this codebase",
      placeHolder: "e.g. Where is the retry delay computed?",
      ignoreFocusOut: true,
      validateInput: (v) => (v.trim() ? undefined : "Type a question"),
    })))?.trim();
    if (!text) return undefined;
    const config = readConfig((p) => this.log.settingProblem(p));
    const settings = await this.runSettings(config);
    const previous = this.store.current;
    if (previous && previous.phase !== "ended") this.stop();
    const runId = randomUUID();
    this.store.begin(runId, text, roots);
    this.store.status(runId, "Planning: listing the workspace…");
    this.log.asked(runId, text, roots, settings);
    await this.revealView();
    this.startProgress(runId);
    for (;;) {
      const summary = await this.plan(runId, roots, text, settings, config.useExcludeSettings);
      if (!summary) return undefined;
      this.store.setPlan(runId, summary);
      this.store.setPhase(runId, "confirming");
      const decision = options.confirm === false ? { go: true as const } : await confirmPlan(summary, config.confirmAboveTokens, roots);
      if (this.store.current?.runId !== runId) return undefined;
      if (decision.go) {
        this.store.setPhase(runId, "reading");
        this.store.status(runId, "starting");
        await this.client.run(runId, summary.planId);
        return runId;
      }
      this.client.dropPlan(summary.planId);
      if (!decision.narrowed) {
        this.endUnread(runId, "not read: cancelled at the summary");
        return undefined;
      }
      roots = decision.narrowed;
      this.store.setRoots(runId, roots);
      this.store.status(runId, `narrowed to ${roots.join(", ")}`);
    }
  }

  /**
   * The plan for this run, its progress in the view; past a second (a large workspace, a
   * download), also in a notification whose Cancel stops it, as Stop in the view does.
   */
  private async plan(runId: string, roots: string[], question: string, settings: RunSettings, useExcludeSettings: boolean): Promise<PlanSummary | undefined> {
    const controller = new AbortController();
    this.planning = { runId, controller };
    const notice = planningNotice(controller);
    const started = performance.now();
    try {
      const summary = await this.client.plan(roots, question, settings, {
        signal: controller.signal,
        editor: editorView(roots, useExcludeSettings),
        onProgress: (p) => {
          const text = planningText(p);
          this.store.status(runId, text);
          notice.report(text);
        },
      });
      this.log.planned(summary, performance.now() - started);
      return summary;
    } catch (err) {
      if (controller.signal.aborted) this.endUnread(runId, "not read: stopped while planning");
      else {
        const message = (err as Error).message;
        this.store.endWithout({ type: "error", runId, message });
        this.log.channel.error(`plan: ${message}`);
        void this.showError(message, err instanceof EngineRequestError ? err.failure.kind : "internal");
      }
      this.stopProgress();
      return undefined;
    } finally {
      notice.done();
      if (this.planning?.controller === controller) this.planning = undefined;
    }
  }

  /** A run that ends before the engine read anything: recorded as stopped, with the reason. */
  private endUnread(runId: string, why: string): void {
    this.store.status(runId, why);
    this.store.endWithout(unreadDone(runId));
    this.stopProgress();
  }

  /** An error, with what to do about it: a setting that caused it is named and one click away. */
  private async showError(message: string, kind: string, setting?: string): Promise<void> {
    const pick = await vscode.window.showErrorMessage(`Ask codebase: ${message}${setting ? ` (setting: askCodebase.${setting})` : ""}`, ...errorActions(kind, setting));
    if (pick === "Select Model...") await vscode.commands.executeCommand("askCodebase.selectModel");
    else if (pick === "Set a Mirror...") await vscode.commands.executeCommand("workbench.action.openSettings", "askCodebase.modelEndpoint");
    else if (pick === "Open Setting") await vscode.commands.executeCommand("workbench.action.openSettings", `askCodebase.${setting}`);
    else if (pick === "Open Settings") await vscode.commands.executeCommand("workbench.action.openSettings", "askCodebase");
    else if (pick === "Show Log") this.log.channel.show();
  }

  /** What the engine needs: the settings, the model named as the engine can find it, and where files go. */
  private async runSettings(config: Settings): Promise<RunSettings> {
    const { confirmAboveTokens: _, useExcludeSettings: _hidden, ...settings } = config;
    let model = config.model;
    if (!isRemoteModel(model) && !isAbsolute(model)) {
      const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
      model = folder ? resolve(folder, model) : resolve(model);
    }
    const apiKey = config.serverUrl ? await serverApiKey(this.context) : undefined;
    return {
      ...settings, model,
      modelDirectory: join(this.context.globalStorageUri.fsPath, "models"),
      cacheDir: codebaseCacheDirectory(this.context),
      backendBuildDir: backendBuildDirectory(this.context),
      ...(apiKey ? { serverApiKey: apiKey } : {}),
    };
  }

  private startProgress(runId: string): void {
    this.stopProgress();
    void vscode.window.withProgress({ location: { viewId: "askCodebase.margins" } }, () => new Promise<void>((resolve) => {
      this.endProgress = resolve;
      if (this.store.current?.runId !== runId) resolve();
    }));
  }

  private stopProgress(): void {
    this.endProgress?.();
    this.endProgress = undefined;
  }

  /** Stops the current run wherever it is: planning is cancelled, reading and answering stop. */
  stop(): void {
    const run = this.store.current;
    if (!run || run.phase === "ended") return;
    if (this.planning?.runId === run.runId) this.planning.controller.abort();
    else this.client.control({ type: "stop", runId: run.runId });
  }

  answerNow(): void {
    const run = this.store.current;
    if (run) this.client.control({ type: "answer-now", runId: run.runId });
  }

  /** The engine records it and answers with the run's new state (kept-changed). */
  setRejected(segment: number, rejected: boolean): void {
    const run = this.store.current;
    if (run) this.client.control({ type: "reject", runId: run.runId, segment, rejected });
  }

  async reanswer(): Promise<void> {
    const run = this.store.current;
    if (!run) return;
    this.store.reanswering(run.runId);
    this.startProgress(run.runId);
    await this.client.reanswer(run.runId);
  }

  dispose(): void {
    this.stopProgress();
  }
}

/** A cancellable notification, shown only if planning is still going after a second. */
function planningNotice(controller: AbortController): { report: (text: string) => void; done: () => void } {
  let latest = "Planning…";
  let report: (text: string) => void = (text) => { latest = text; };
  let finish: (() => void) | undefined;
  let finished = false;
  const timer = setTimeout(() => {
    void vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: "Ask codebase", cancellable: true },
      (progress, token) => new Promise<void>((resolve) => {
        token.onCancellationRequested(() => controller.abort());
        progress.report({ message: latest });
        report = (text) => progress.report({ message: text });
        finish = resolve;
        if (finished) resolve();
      }),
    );
  }, 1000);
  return {
    report: (text) => report(text),
    done: () => {
      finished = true;
      clearTimeout(timer);
      finish?.();
    },
  };
}

function planningText(p: PlanProgress): string {
  switch (p.stage) {
    case "downloading": {
      const done = p.downloaded ?? 0;
      return p.total ? `Downloading the model: ${Math.floor((100 * done) / p.total)}% (${formatBytes(done)} of ${formatBytes(p.total)})…` : `Downloading the model: ${formatBytes(done)}…`;
    }
    case "reading": return p.files ? `Planning: read ${p.files.toLocaleString("en-US")} of ${(p.seen ?? 0).toLocaleString("en-US")} files, ${formatBytes(p.bytes ?? 0)}…` : `Planning: listing the workspace, ${(p.seen ?? 0).toLocaleString("en-US")} files found…`;
    case "tokenizing": return `Planning: counting tokens in ${formatBytes(p.bytes ?? 0)} of text…`;
  }
}

/**
 * What an error offers, by its kind: every one has at least the log; one a setting caused opens
 * it; a model that will not load or download offers another (and a mirror, for a download).
 */
export function errorActions(kind: string, setting?: string): string[] {
  if (setting) return ["Open Setting", "Show Log"];
  switch (kind) {
    case "model": return ["Select Model...", "Show Log"];
    case "download": return ["Select Model...", "Set a Mirror...", "Show Log"];
    case "server": return ["Open Settings", "Show Log"];
    case "input": return ["Open Settings", "Show Log"];
    default: return ["Show Log"];
  }
}
