// The VS Code adapter, kept thin: build the services, register them, push every disposable.
import * as vscode from "vscode";
import type { WimEvent } from "../core/wim/events";
import { EngineClient } from "../client/engineClient";
import { MarginsView } from "./marginsView";
import { selectModel } from "./selectModel";
import { clearCache } from "./clearCache";
import { setServerApiKey } from "./serverKey";
import { RunController, type RunRecord } from "./runController";

/** What activate returns: used by the in-host tests, and by anyone scripting the extension. */
export interface AskCodebaseApi {
  ask(question: string, options?: { roots?: string[] }): Promise<string | undefined>;
  whenEnded(runId: string): Promise<WimEvent>;
  lastRun(): RunRecord | undefined;
  /** The margin ids the last answer's prompt held. */
  answerMarginIds(): number[] | undefined;
  setRejected(segment: number, rejected: boolean): void;
  reanswer(): Promise<void>;
  /** Opens a source of the last run, as a click in the view does; false when refused. */
  openSource(path: string, startLine: number, endLine: number): Promise<boolean>;
  engineProcessId(): number | undefined;
  crashEngine(): void;
}

export function activate(context: vscode.ExtensionContext): AskCodebaseApi {
  let controller: RunController | undefined;
  const client = new EngineClient({
    script: vscode.Uri.joinPath(context.extensionUri, "dist", "engineHost.js").fsPath,
    onEvent: (event) => controller?.onEvent(event),
    onStatus: (text) => controller?.onStatus(text),
    onExit: (reason) => void vscode.window.showWarningMessage(`Ask codebase: ${reason}. It restarts with the next question.`),
  });
  controller = new RunController(context, client);
  const run = controller;
  const view = new MarginsView(context.extensionUri, (message) => void run.handle(message), () => run.snapshot());
  run.view = view;
  context.subscriptions.push(
    run,
    view,
    { dispose: () => void client.dispose() },
    vscode.window.registerWebviewViewProvider(MarginsView.viewId, view),
    vscode.commands.registerCommand("askCodebase.ask", () => run.ask()),
    vscode.commands.registerCommand("askCodebase.stop", () => run.stop()),
    vscode.commands.registerCommand("askCodebase.answerNow", () => run.answerNow()),
    vscode.commands.registerCommand("askCodebase.reanswer", () => run.reanswer()),
    vscode.commands.registerCommand("askCodebase.selectModel", () => selectModel(context)),
    vscode.commands.registerCommand("askCodebase.clearCache", () => clearCache(context)),
    vscode.commands.registerCommand("askCodebase.setServerApiKey", () => setServerApiKey(context)),
  );
  return {
    ask: (question, options) => run.ask(question, { ...options, confirm: false }),
    whenEnded: (runId) => run.whenEnded(runId),
    lastRun: () => run.lastRun,
    answerMarginIds: () => run.lastRun?.answerMarginIds,
    setRejected: (segment, rejected) => run.setRejected(segment, rejected),
    reanswer: () => run.reanswer(),
    openSource: (path, startLine, endLine) => run.open(path, startLine, endLine),
    engineProcessId: () => client.pid,
    crashEngine: () => client.control({ type: "crash", how: "abort" }),
  };
}

export function deactivate(): void {}
