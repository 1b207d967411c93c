// The sidebar's script: it tells the extension it is ready before any message is sent to it.
declare function acquireVsCodeApi(): { postMessage(message: unknown): void };

const vscode = acquireVsCodeApi();
vscode.postMessage({ type: "ready" });
