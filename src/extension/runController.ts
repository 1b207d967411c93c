// One question at a time, from the command palette or the sidebar: plans (asking first when the
// codebase is large), starts the run in the engine process, forwards its events to the view, the
// status bar and the view's progress, and carries out what the user does in the view.
import { codebaseCacheDirectory } from "./clearCache";
import { serverApiKey } from "./serverKey";
import { randomUUID } from "node:crypto";
import { totalmem } from "node:os";
import { isAbsolute, join, resolve, sep } from "node:path";
import * as vscode from "vscode";
import type { WimEvent } from "../core/wim/events";
import { isRemoteModel } from "../engine/model/modelResolve";
import type { PlanSummary, RunSettings } from "../shared/engineProtocol";
import type { FromWebview, ToWebview } from "../shared/webviewProtocol";
import { readConfig, type AskConfig } from "./config";
import type { EngineClient } from "../client/engineClient";
import type { MarginsView } from "./marginsView";
import { defaultModel } from "../shared/modelCatalog";
import { absolutePath } from "./paths";

export interface RunRecord {
  runId: string;
  question: string;
  roots: string[];
  events: WimEvent[];
  rejected: Set<number>;
  answerMarginIds?: number[];
}

interface Speed { prefillTokensPerSecond: number; marginSecondsPerSegment: number }
const SPEED_KEY = "askCodebase.measuredSpeed";

export class RunController implements vscode.Disposable {
  private current?: RunRecord;
  private status?: string;
  private endProgress?: () => void;
  private readonly ends = new Map<string, ((e: WimEvent) => void)[]>();
  private readonly statusBar = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 50);
  view?: MarginsView;

  constructor(private readonly context: vscode.ExtensionContext, private readonly client: EngineClient) {
    this.idleStatusBar();
    this.statusBar.show();
  }

  get lastRun(): RunRecord | undefined {
    return this.current;
  }

  snapshot(): ToWebview {
    const run = this.current;
    return {
      type: "replay",
      ...(run ? { run: { runId: run.runId, question: run.question } } : {}),
      events: run?.events ?? [],
      rejected: [...(run?.rejected ?? [])],
      ...(this.status ? { status: this.status } : {}),
    };
  }

  onStatus(text: string): void {
    this.status = text;
    this.view?.post({ type: "status", text });
  }

  onEvent(event: WimEvent): void {
    const run = this.current;
    if (!run || event.runId !== run.runId) return;
    run.events.push(event);
    this.view?.post({ type: "event", event });
    switch (event.type) {
      case "segment-progress":
        this.statusBar.text = `$(sync~spin) Ask: segment ${event.segment + 1}/${event.segments}`;
        break;
      case "answer-started":
        run.answerMarginIds = event.marginIds;
        this.statusBar.text = "$(sync~spin) Ask: answering";
        break;
      case "done":
        this.remember(event);
        this.finish(event);
        break;
      case "error":
        void vscode.window.showErrorMessage(`Ask codebase: ${event.message}`);
        this.finish(event);
        break;
      default:
        break;
    }
  }

  /** Resolves when the run ends, with its last event (done or error). */
  whenEnded(runId: string): Promise<WimEvent> {
    const end = this.current?.runId === runId ? this.current.events.find((e) => e.type === "done" || e.type === "error") : undefined;
    if (end) return Promise.resolve(end);
    return new Promise((resolve) => this.ends.set(runId, [...(this.ends.get(runId) ?? []), resolve]));
  }

  private finish(event: WimEvent): void {
    this.endProgress?.();
    this.endProgress = undefined;
    this.idleStatusBar();
    for (const resolve of this.ends.get(event.runId) ?? []) resolve(event);
    this.ends.delete(event.runId);
  }

  private idleStatusBar(): void {
    this.statusBar.text = "$(comment-discussion) Ask codebase";
    this.statusBar.tooltip = "Ask a question about this codebase";
    this.statusBar.command = "askCodebase.ask";
  }

  private startProgress(runId: string): void {
    this.endProgress?.();
    this.statusBar.text = "$(sync~spin) Ask: starting";
    this.statusBar.tooltip = "Reading the codebase: click to stop";
    this.statusBar.command = "askCodebase.stop";
    void vscode.window.withProgress({ location: { viewId: "askCodebase.margins" } }, () => new Promise<void>((resolve) => {
      this.endProgress = resolve;
      if (this.current?.runId !== runId) resolve();
    }));
  }

  /** Asks `question` (or prompts for one) about `roots` (or the workspace). Returns the run id, or undefined if the user backed out. */
  async ask(question?: string, options: { roots?: string[]; confirm?: boolean } = {}): Promise<string | undefined> {
    const text = question ?? (await vscode.window.showInputBox({
      title: "Ask codebase",
      prompt: "Ask a question about this codebase",
      placeHolder: "e.g. Where is the retry delay computed?",
      ignoreFocusOut: true,
      validateInput: (v) => (v.trim() ? undefined : "Type a question"),
    }));
    if (!text?.trim()) return undefined;
    let roots = options.roots ?? (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath);
    if (!roots.length) {
      void vscode.window.showWarningMessage("Ask codebase: open a folder first.");
      return undefined;
    }
    const config = readConfig();
    const settings = await this.settings(config);
    if (!settings) return undefined;
    if (options.confirm !== false) {
      const summary = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Window, title: "Ask codebase: counting tokens" },
        () => this.client.plan(roots, settings),
      ).then(undefined, (err: Error) => { void vscode.window.showErrorMessage(`Ask codebase: ${err.message}`); return undefined; });
      if (!summary) return undefined;
      const decision = await this.confirm(summary, config, roots);
      if (!decision) return undefined;
      roots = decision;
    }
    const runId = randomUUID();
    this.current = { runId, question: text.trim(), roots, events: [], rejected: new Set() };
    this.status = undefined;
    this.view?.post(this.snapshot());
    await this.view?.reveal();
    this.startProgress(runId);
    await this.client.ask(runId, roots, text.trim(), settings);
    return runId;
  }

  /** Before a large read: files, tokens and a time estimate from this machine's last runs. */
  private async confirm(summary: PlanSummary, config: AskConfig, roots: string[]): Promise<string[] | undefined> {
    const tooLarge = summary.tokens > summary.contextSize;
    if (summary.tokens <= config.confirmAboveTokens && !tooLarge) return roots;
    const speed = this.context.globalState.get<Speed>(SPEED_KEY);
    const eta = speed
      ? `about ${Math.max(1, Math.round((summary.tokens / speed.prefillTokensPerSecond + summary.segments * speed.marginSecondsPerSegment) / 60))} min on this machine`
      : "time unknown until a first run on this machine";
    const detail = `${summary.files.toLocaleString("en-US")} files, ${summary.tokens.toLocaleString("en-US")} tokens in ${summary.segments} segments (${eta}).` +
      (summary.skipped ? ` ${summary.skipped} files skipped.` : "") +
      (tooLarge ? ` This is more than the model's context (${summary.contextSize.toLocaleString("en-US")} tokens): it will be read in windows, each margin seeing only its own window, the answer the last window and every kept margin. Narrowing the scope keeps it in one.` : "");
    const choices = ["Go", "Narrow Scope…"];
    const pick = await vscode.window.showWarningMessage("Ask codebase: read this much?", { modal: true, detail }, ...choices);
    if (pick === "Go") return roots;
    if (pick !== "Narrow Scope…") return undefined;
    const folders = await vscode.window.showOpenDialog({ canSelectFolders: true, canSelectFiles: false, canSelectMany: true, defaultUri: vscode.Uri.file(roots[0]!), openLabel: "Read these folders" });
    const inside = (folders ?? []).map((f) => f.fsPath).filter((p) => roots.some((r) => p === r || p.startsWith(r + sep)));
    return inside.length ? inside : undefined;
  }

  private remember(done: Extract<WimEvent, { type: "done" }>): void {
    if (done.stoppedBy !== "finished" || done.timings.prefillMs <= 0 || !done.segmentsRead) return;
    void this.context.globalState.update(SPEED_KEY, {
      prefillTokensPerSecond: done.tokens.prefilled / (done.timings.prefillMs / 1000),
      marginSecondsPerSegment: done.timings.marginMs / 1000 / done.segmentsRead,
    } satisfies Speed);
  }

  private async settings(config: AskConfig): Promise<RunSettings | undefined> {
    const modelPath = await this.modelPath(config);
    if (!modelPath) return undefined;
    return {
      modelPath, gpu: config.gpu, threads: config.threads, gpuReserveMiB: Math.max(0, config.gpuMemoryReserveMiB), segmentTokens: config.segmentTokens, marginTokens: config.marginTokens,
      answerTokens: config.answerTokens, classify: config.classify, include: config.include, exclude: config.exclude, respectGitignore: config.respectGitignore,
      cacheDir: codebaseCacheDirectory(this.context), cacheLimitBytes: Math.max(0, config.cacheSizeMiB) * 1048576,
      ...(config.serverUrl ? { server: await this.server(config) } : {}),
    };
  }

  private async server(config: AskConfig): Promise<NonNullable<RunSettings["server"]>> {
    const apiKey = await serverApiKey(this.context);
    return {
      url: config.serverUrl, ...(config.serverKind !== "auto" ? { kind: config.serverKind } : {}),
      ...(config.serverModel ? { model: config.serverModel } : {}), ...(apiKey ? { apiKey } : {}),
    };
  }

  /** The configured model, or the default for this machine, downloaded on first use with a cancellable notification. */
  async modelPath(config: AskConfig = readConfig()): Promise<string | undefined> {
    const choice = defaultModel({ ramBytes: totalmem() });
    const spec = config.model || choice.spec;
    if (!isRemoteModel(spec)) {
      const folder = vscode.workspace.workspaceFolders?.[0]?.uri.fsPath;
      return isAbsolute(spec) || !folder ? resolve(spec) : resolve(folder, spec);
    }
    const directory = join(this.context.globalStorageUri.fsPath, "models");
    return vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: `Ask codebase: getting ${config.model ? spec : choice.label}`, cancellable: true },
      async (progress, token) => {
        const controller = new AbortController();
        token.onCancellationRequested(() => controller.abort());
        let reported = 0;
        try {
          return await this.client.resolveModel(spec, directory, (downloaded, total) => {
            const percent = total ? (downloaded / total) * 100 : 0;
            progress.report({ increment: percent - reported, message: `${(downloaded / 1048576).toFixed(0)} of ${(total / 1048576).toFixed(0)} MiB` });
            reported = percent;
          }, controller.signal);
        } catch (err) {
          if (!controller.signal.aborted) {
            void vscode.window.showErrorMessage(`Ask codebase: ${(err as Error).message}. Choose a model file with "Ask codebase: Select Model...".`);
          }
          return undefined;
        }
      },
    );
  }

  stop(): void {
    if (this.current) this.client.control({ type: "stop", runId: this.current.runId });
  }

  answerNow(): void {
    if (this.current) this.client.control({ type: "answer-now", runId: this.current.runId });
  }

  setRejected(segment: number, rejected: boolean): void {
    const run = this.current;
    if (!run) return;
    if (rejected) run.rejected.add(segment);
    else run.rejected.delete(segment);
    this.client.control({ type: "reject", runId: run.runId, segment, rejected });
  }

  async reanswer(): Promise<void> {
    const run = this.current;
    if (!run) return;
    // The answer's events replace the previous answer's in the record, so a replay shows the new one.
    run.events = run.events.filter((e) => e.type !== "answer-started" && e.type !== "answer-token" && e.type !== "done");
    this.startProgress(run.runId);
    await this.client.reanswer(run.runId);
  }

  /** Opens a file this run read, with the lines selected. Anything else is refused. */
  async open(path: string, startLine: number, endLine: number): Promise<boolean> {
    const run = this.current;
    if (!run) return false;
    const known = run.events.some((e) => e.type === "margin-done" && e.sources.some((s) => s.path === path));
    const abs = known ? absolutePath(run.roots, path) : undefined;
    if (!abs) return false;
    const document = await vscode.workspace.openTextDocument(vscode.Uri.file(abs));
    const last = Math.min(Math.max(startLine, endLine), document.lineCount) - 1;
    const first = Math.min(Math.max(1, startLine), document.lineCount) - 1;
    const selection = new vscode.Selection(first, 0, last, document.lineAt(last).text.length);
    await vscode.window.showTextDocument(document, { selection, preview: true });
    return true;
  }

  async handle(message: FromWebview): Promise<void> {
    switch (message.type) {
      case "ready":
        return;
      case "ask":
        await this.ask(message.question);
        return;
      case "stop":
        if (message.runId === this.current?.runId) this.stop();
        return;
      case "answer-now":
        if (message.runId === this.current?.runId) this.answerNow();
        return;
      case "reject":
        if (message.runId === this.current?.runId) this.setRejected(message.segment, message.rejected);
        return;
      case "reanswer":
        if (message.runId === this.current?.runId) await this.reanswer();
        return;
      case "open":
        await this.open(message.path, message.startLine, message.endLine);
        return;
      case "copy":
        await vscode.env.clipboard.writeText(message.text);
        void vscode.window.setStatusBarMessage("Ask codebase: answer copied", 2000);
        return;
      default: {
        const never: never = message;
        throw new Error(`unknown webview message ${JSON.stringify(never)}`);
      }
    }
  }

  dispose(): void {
    this.endProgress?.();
    this.statusBar.dispose();
  }
}
