// "Ask codebase: Clear Codebase Cache...": says what the warm cache holds, and empties it on request.
import { join } from "node:path";
import * as vscode from "vscode";
import { DiskStateCache } from "../core/cache/stateCache";
import { readConfig } from "./config";

export function codebaseCacheDirectory(context: vscode.ExtensionContext): string {
  return join(context.globalStorageUri.fsPath, "codebase-cache");
}

export async function clearCache(context: vscode.ExtensionContext): Promise<void> {
  const cache = new DiskStateCache(codebaseCacheDirectory(context), readConfig().cacheSizeMiB * 1048576);
  const stats = await cache.stats();
  const mib = (n: number): string => `${Math.round(n / 1048576).toLocaleString("en-US")} MiB`;
  if (!stats.entries) {
    void vscode.window.showInformationMessage(`Ask codebase: the codebase cache is empty (limit ${mib(stats.limitBytes)}).`);
    return;
  }
  const choice = await vscode.window.showWarningMessage(
    `The codebase cache holds ${stats.entries} saved ${stats.entries === 1 ? "codebase" : "codebases"}, ${mib(stats.bytes)} of ${mib(stats.limitBytes)}. ` +
    "Clear it? The next question about each codebase reads it again.",
    { modal: true },
    "Clear",
  );
  if (choice !== "Clear") return;
  await cache.clear();
  void vscode.window.showInformationMessage(`Ask codebase: cleared ${mib(stats.bytes)}.`);
}
