// The VS Code adapter. It stays thin: the pipeline lives in src/core and src/engine.
import * as vscode from "vscode";
import { planCodebase } from "../core/plan";
import { openTokenizer } from "../engine/tokenizer";
import { planText } from "../cli/packCommand";

export function activate(context: vscode.ExtensionContext): void {
  const output = vscode.window.createOutputChannel("Ask codebase");
  context.subscriptions.push(
    output,
    vscode.commands.registerCommand("askCodebase.ask", async () => {
      const roots = (vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath);
      const model = vscode.workspace.getConfiguration("askCodebase").get<string>("model");
      if (!roots.length) return void vscode.window.showWarningMessage("Ask codebase: open a folder first.");
      if (!model) return void vscode.window.showWarningMessage("Ask codebase: set askCodebase.model to a GGUF file.");
      const tokenizer = await openTokenizer(model);
      try {
        const plan = await planCodebase(roots, { countTokens: tokenizer.countTokens, measureFiles: tokenizer.measureFiles, onSize: tokenizer.prewarm });
        output.appendLine(planText(plan));
        output.show(true);
      } finally {
        await tokenizer.dispose();
      }
    }),
  );
}

export function deactivate(): void {}
