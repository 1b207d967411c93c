// The first question with no model chosen: nothing is downloaded until the user says which. The
// offer is the model suggested for this machine (shared/modelCatalog.ts, as the CLI's default),
// with its download size and why, beside choosing another or a GGUF file on disk.
import * as vscode from "vscode";
import type { EngineClient } from "../client/engineClient";
import { downloadSize, localMachine, suggestModel, type Machine, type Suggestion } from "../shared/modelCatalog";
import { SECTION } from "./config";

/** The machine as the engine described it (with its GPU), once it has; until then, cores and memory. */
let described: Machine | undefined;
let describing: Promise<Machine> | undefined;

/**
 * Asks the engine once which GPU it would use (a few seconds, in a process of its own), so the
 * suggestion is sized by GPU memory where there is one. A slow or failed answer leaves the
 * suggestion to cores and memory rather than keep the user waiting.
 */
export function learnMachine(client: EngineClient, waitMs = 20_000): Promise<Machine> {
  const basic = localMachine();
  describing ??= client.machine().then((m) => (described = m), () => basic);
  return Promise.race([describing, new Promise<Machine>((r) => setTimeout(() => r(basic), waitMs).unref?.())]);
}

export function suggestionHere(): Suggestion {
  return suggestModel(described ?? localMachine());
}

/** Asks which model to use; returns the setting's new value, or undefined when the user backed out. */
export async function chooseFirstModel(): Promise<string | undefined> {
  const s = suggestionHere();
  const download = `Download ${s.option.label}`;
  const pick = await vscode.window.showInformationMessage("Ask codebase needs a model to read with, and none is chosen.", {
    modal: true,
    detail: `Suggested for this machine: ${s.option.label}, a ${downloadSize(s.option)} download (${s.why}). ` +
      "It is downloaded once, into the extension's storage. Nothing is downloaded until you choose.",
  }, download, "Choose Another…", "Use a GGUF File…");
  let value: string | undefined;
  if (pick === download) value = s.option.spec;
  else if (pick === "Use a GGUF File…") {
    const file = await vscode.window.showOpenDialog({ canSelectMany: false, filters: { "GGUF models": ["gguf"] }, openLabel: "Use this model" });
    value = file?.[0]?.fsPath;
  } else if (pick === "Choose Another…") {
    await vscode.commands.executeCommand("askCodebase.selectModel");
    value = vscode.workspace.getConfiguration(SECTION).get<string>("model")?.trim() || undefined;
    return value;
  }
  if (!value) return undefined;
  await vscode.workspace.getConfiguration(SECTION).update("model", value, vscode.ConfigurationTarget.Global);
  return value;
}
