// "Ask codebase: Clear Codebase Cache...": says what the warm cache holds, and empties it on request.
import { join } from "node:path";
import * as vscode from "vscode";
import { DiskStateCache } from "../core/cache/stateCache";
import { readConfig } from "./config";
import { formatBytes } from "../core/bytes";

// Only the cache's own files are removed (DiskStateCache.clear): the folder is the extension's, but
// the rule is the CLI's too, where a mistyped folder could be anything.

export function codebaseCacheDirectory(context: vscode.ExtensionContext): string {
  return join(context.globalStorageUri.fsPath, "codebase-cache");
}

export async function clearCache(context: vscode.ExtensionContext): Promise<void> {
  const cache = new DiskStateCache(codebaseCacheDirectory(context), readConfig().cacheSizeMiB * 1048576);
  const stats = await cache.stats();
  if (!stats.entries) {
    void vscode.window.showInformationMessage(`Ask codebase: the codebase cache is empty (limit ${formatBytes(stats.limitBytes)}).`);
    return;
  }
  const choice = await vscode.window.showWarningMessage(
    `The codebase cache holds ${stats.entries} saved ${stats.entries === 1 ? "codebase" : "codebases"}, ${formatBytes(stats.bytes)} of ${formatBytes(stats.limitBytes)}. ` +
    "Clear it? The next question about each codebase reads it again.",
    { modal: true },
    "Clear",
  );
  if (choice !== "Clear") return;
  try {
    const cleared = await cache.clear();
    void vscode.window.showInformationMessage(`Ask codebase: removed ${cleared.entries} saved ${cleared.entries === 1 ? "codebase" : "codebases"} (${formatBytes(cleared.bytes)}).` +
      (cleared.left ? ` ${cleared.left} files the cache did not write were left where they are.` : ""));
  } catch (err) {
    void vscode.window.showErrorMessage(`Ask codebase: ${(err as Error).message}`);
  }
}
