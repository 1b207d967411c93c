// The server's API key lives in VS Code's SecretStorage (the OS keychain where there is one), never
// in a settings file: "Ask codebase: Set Server API Key..." stores or removes it.
import * as vscode from "vscode";

const KEY = "askCodebase.serverApiKey";

export function serverApiKey(context: vscode.ExtensionContext): Thenable<string | undefined> {
  return context.secrets.get(KEY);
}

export async function setServerApiKey(context: vscode.ExtensionContext): Promise<void> {
  const value = await vscode.window.showInputBox({
    title: "Ask codebase: server API key",
    prompt: "Sent as a bearer token to askCodebase.serverUrl. Leave empty to remove the stored key.",
    password: true,
    ignoreFocusOut: true,
  });
  if (value === undefined) return;
  if (value.trim()) await context.secrets.store(KEY, value.trim());
  else await context.secrets.delete(KEY);
  void vscode.window.showInformationMessage(value.trim() ? "Ask codebase: the server API key is stored." : "Ask codebase: the server API key is removed.");
}
