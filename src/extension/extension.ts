// The VS Code adapter, kept thin: build the services, register them, push every disposable.
import * as vscode from "vscode";
import { EngineClient } from "../client/engineClient";
import type { WimEvent } from "../core/wim/events";
import type { ToWebview } from "../shared/webviewProtocol";
import { clearCache } from "./clearCache";
import { CudaOffer } from "./cudaOffer";
import { RunLog } from "./log";
import { MarginsView } from "./marginsView";
import { Questions } from "./questions";
import { RunStore, type RunRecord } from "./runStore";
import { selectModel } from "./selectModel";
import { setServerApiKey } from "./serverKey";
import { openSource } from "./sources";
import { StatusBar } from "./statusBar";
import { trackContextKeys } from "./contextKeys";
import { modelInfo } from "./modelInfo";
import { describeRead } from "../shared/describe";
import { SECTION } from "./config";
import { learnMachine } from "./firstModel";
import { handleViewMessage } from "./viewActions";

/** What activate returns: a question asked from another extension or a script. */
export interface AskCodebaseApi {
  ask(question: string, options?: { roots?: string[] }): Promise<string | undefined>;
  whenEnded(runId: string): Promise<WimEvent>;
  /** Present only when the extension runs under test (see testMode). */
  test?: AskCodebaseTestApi;
}

/** Hooks for the in-host tests: the record, the engine's process, a crash on demand. */
export interface AskCodebaseTestApi {
  lastRun(): RunRecord | undefined;
  answerMarginIds(): number[] | undefined;
  setRejected(segment: number, rejected: boolean): void;
  reanswer(): Promise<void>;
  openSource(path: string, startLine: number, endLine: number): Promise<boolean>;
  engineProcessId(): number | undefined;
  crashEngine(): void;
}

/** Under @vscode/test-electron, or installed from a VSIX into code-server by the e2e driver. */
function testMode(context: vscode.ExtensionContext): boolean {
  return context.extensionMode === vscode.ExtensionMode.Test || process.env.ASK_CODEBASE_TEST_API === "1";
}

export function activate(context: vscode.ExtensionContext): AskCodebaseApi {
  const store = new RunStore();
  const log = new RunLog();
  let questions: Questions | undefined;
  const client = new EngineClient({
    script: vscode.Uri.joinPath(context.extensionUri, "dist", "engineHost.js").fsPath,
    onEvent: (event) => questions?.onEvent(event),
    onStatus: (text) => questions?.onStatus(text),
    onStderr: (text) => log.engineOutput(text),
    onExit: (reason) => {
      log.channel.error(reason);
      void vscode.window.showWarningMessage(`Ask codebase: ${reason}. It restarts with the next question.`);
    },
  });
  const cuda = new CudaOffer(context, client, store, log);
  const asking = new Questions(context, client, store, log, (backend) => void cuda.afterRunStarted(backend).catch((err: unknown) => log.channel.warn(`the CUDA build offer: ${String(err)}`)));
  questions = asking;
  const snapshot = (): ToWebview => {
    const run = store.current;
    return {
      type: "replay",
      ...(run ? { run: { runId: run.runId, question: run.question, active: run.phase !== "ended", ...(run.plan ? { read: describeRead(run.plan) } : {}) } } : {}),
      events: run?.events ?? [],
      ...(run?.status ? { status: run.status } : {}),
      history: store.history,
      model: modelInfo(store),
    };
  };
  const view = new MarginsView(context.extensionUri, (message) => void handleViewMessage(message, asking, store), snapshot);
  // No model yet: the welcome's suggestion is sized by the GPU once the engine has described it.
  if (!vscode.workspace.getConfiguration(SECTION).get<string>("model")?.trim()) void learnMachine(client).then(() => view.post(snapshot()));
  asking.revealView = () => view.reveal();
  const toView = store.subscribe((change) => {
    if (change.kind === "run" || change.kind === "plan") view.post(snapshot());
    else if (change.kind === "event") view.post({ type: "event", event: change.event });
    else view.post({ type: "status", runId: change.run.runId, text: change.text });
  });
  context.subscriptions.push(
    log,
    view,
    toView,
    asking,
    new StatusBar(store),
    trackContextKeys(store),
    vscode.workspace.onDidChangeConfiguration((e) => { if (e.affectsConfiguration("askCodebase.model")) view.post(snapshot()); }),
    { dispose: () => void client.dispose() },
    vscode.window.registerWebviewViewProvider(MarginsView.viewId, view),
    vscode.commands.registerCommand("askCodebase.ask", () => asking.ask()),
    vscode.commands.registerCommand("askCodebase.stop", () => asking.stop()),
    vscode.commands.registerCommand("askCodebase.answerNow", () => asking.answerNow()),
    vscode.commands.registerCommand("askCodebase.reanswer", () => asking.reanswer()),
    vscode.commands.registerCommand("askCodebase.selectModel", () => selectModel(context)),
    vscode.commands.registerCommand("askCodebase.clearCache", () => clearCache(context)),
    vscode.commands.registerCommand("askCodebase.setServerApiKey", () => setServerApiKey(context)),
    vscode.commands.registerCommand("askCodebase.showLog", () => log.channel.show()),
    vscode.commands.registerCommand("askCodebase.buildCuda", () => cuda.build()),
  );
  return {
    ask: (question, options) => asking.ask(question, { ...options, confirm: false }),
    whenEnded: (runId) => store.whenEnded(runId),
    ...(testMode(context) ? {
      test: {
        lastRun: () => store.current,
        answerMarginIds: () => store.current?.answerMarginIds,
        setRejected: (segment, rejected) => asking.setRejected(segment, rejected),
        reanswer: () => asking.reanswer(),
        openSource: (path, startLine, endLine) => openSource(store, path, startLine, endLine),
        engineProcessId: () => client.pid,
        crashEngine: () => client.control({ type: "crash", how: "abort" }),
      } satisfies AskCodebaseTestApi,
    } : {}),
  };
}

export function deactivate(): void {}
