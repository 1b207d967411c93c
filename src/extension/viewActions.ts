// What the Margins view asks for, carried out. A message for a run that is no longer the current
// one is ignored: the view may still show a run that another question has replaced.
import * as vscode from "vscode";
import { OPTIONS } from "../shared/settings";
import type { FromWebview } from "../shared/webviewProtocol";
import type { Questions } from "./questions";
import type { RunStore } from "./runStore";
import { openSource } from "./sources";

export async function handleViewMessage(message: FromWebview, questions: Questions, store: RunStore): Promise<void> {
  const current = (runId: string): boolean => runId === store.current?.runId;
  switch (message.type) {
    case "ready":
      return;
    case "ask":
      await questions.ask(message.question);
      return;
    case "stop":
      if (current(message.runId)) questions.stop();
      return;
    case "answer-now":
      if (current(message.runId)) questions.answerNow();
      return;
    case "reject":
      if (current(message.runId)) questions.setRejected(message.segment, message.rejected);
      return;
    case "reanswer":
      if (current(message.runId)) await questions.reanswer();
      return;
    case "open":
      await openSource(store, message.path, message.startLine, message.endLine);
      return;
    case "copy":
      await vscode.env.clipboard.writeText(message.text);
      void vscode.window.setStatusBarMessage("Ask codebase: answer copied", 2000);
      return;
    case "choose-model":
      await vscode.commands.executeCommand("askCodebase.selectModel");
      return;
    case "open-setting":
      if (Object.hasOwn(OPTIONS, message.setting)) await vscode.commands.executeCommand("workbench.action.openSettings", `askCodebase.${message.setting}`);
      return;
    default: {
      const never: never = message;
      throw new Error(`unknown webview message ${JSON.stringify(never)}`);
    }
  }
}
