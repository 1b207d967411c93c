// "Ask codebase: Select Model...": a GGUF file, a model id (hf: URI or URL), or this machine's default.
import { readdir } from "node:fs/promises";
import { join } from "node:path";
import * as vscode from "vscode";
import { SECTION } from "./config";
import { downloadSize, MODEL_LADDER } from "../shared/modelCatalog";
import { suggestionHere } from "./firstModel";

export async function selectModel(context: vscode.ExtensionContext): Promise<void> {
  const suggestion = suggestionHere();
  const suggested = suggestion.option;
  const downloaded = await readdir(join(context.globalStorageUri.fsPath, "models")).then(
    (names) => names.filter((n) => n.endsWith(".gguf")).map((n) => join(context.globalStorageUri.fsPath, "models", n)),
    () => [] as string[],
  );
  type Item = vscode.QuickPickItem & { value?: string; action?: "browse" | "uri" };
  const items: Item[] = [
    { label: "$(folder-opened) Browse for a GGUF file…", action: "browse" },
    { label: "$(cloud-download) Enter a model id or URL…", description: "hf:user/repo:quant or https://…", action: "uri" },
    { label: "Suggested for this machine", kind: vscode.QuickPickItemKind.Separator },
    { label: suggested.label, description: downloadSize(suggested), detail: `Because ${suggestion.why}.`, value: suggested.spec },
    { label: "Other models", kind: vscode.QuickPickItemKind.Separator },
    ...MODEL_LADDER.filter((m) => m !== suggested).map((m) => ({ label: m.label, description: m.spec, value: m.spec })),
    ...(downloaded.length ? [{ label: "Downloaded", kind: vscode.QuickPickItemKind.Separator } as Item] : []),
    ...downloaded.map((p) => ({ label: p.split("/").pop()!, description: p, value: p })),
  ];
  const pick = await vscode.window.showQuickPick(items, { title: "Ask codebase: model", placeHolder: "Which model reads the codebase?" });
  if (!pick) return;
  let value = pick.value;
  if (pick.action === "browse") {
    const file = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { "GGUF models": ["gguf"] }, openLabel: "Use this model" });
    value = file?.[0]?.fsPath;
  } else if (pick.action === "uri") {
    value = await vscode.window.showInputBox({ title: "Model id or URL", placeHolder: "hf:Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF:Q4_K_M", validateInput: (v) => (/^(hf:|https?:\/\/)/.test(v.trim()) ? undefined : "Start with hf: or https://") });
  }
  if (value === undefined) return;
  await vscode.workspace.getConfiguration(SECTION).update("model", value.trim(), vscode.ConfigurationTarget.Global);
  void vscode.window.showInformationMessage(`Ask codebase: model set to ${value.trim()}.`);
}
