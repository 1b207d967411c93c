// The "Margins" webview view: strict CSP with a nonce, scripts and styles only from dist/media,
// messages checked on arrival. Run state lives in the extension: whenever the view (re)loads it
// says `ready` and gets the whole current run replayed, so hiding it loses nothing.
import { randomBytes } from "node:crypto";
import * as vscode from "vscode";
import { isFromWebview, type FromWebview, type ToWebview } from "../shared/webviewProtocol";

export class MarginsView implements vscode.WebviewViewProvider, vscode.Disposable {
  static readonly viewId = "askCodebase.margins";
  private view?: vscode.WebviewView;
  private ready = false;
  private readonly disposables: vscode.Disposable[] = [];

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly onMessage: (message: FromWebview) => void,
    private readonly snapshot: () => ToWebview,
  ) {}

  resolveWebviewView(view: vscode.WebviewView): void {
    this.view = view;
    this.ready = false;
    const media = vscode.Uri.joinPath(this.extensionUri, "dist", "media");
    view.webview.options = { enableScripts: true, enableCommandUris: false, localResourceRoots: [media] };
    view.webview.html = this.html(view.webview, media);
    this.disposables.push(
      view.webview.onDidReceiveMessage((message: unknown) => {
        if (!isFromWebview(message)) return;
        if (message.type === "ready") {
          this.ready = true;
          void view.webview.postMessage(this.snapshot());
          return;
        }
        this.onMessage(message);
      }),
      view.onDidDispose(() => {
        this.view = undefined;
        this.ready = false;
      }),
    );
  }

  /** Sent now if the view is listening; otherwise the next `ready` replays the run instead. */
  post(message: ToWebview): void {
    if (this.view && this.ready) void this.view.webview.postMessage(message);
  }

  /** Shows the view without taking focus from where the user is; creates it (focused) if it never was. */
  async reveal(): Promise<void> {
    if (this.view) this.view.show(true);
    else await vscode.commands.executeCommand(`${MarginsView.viewId}.focus`);
  }

  get visible(): boolean {
    return this.view?.visible ?? false;
  }

  private html(webview: vscode.Webview, media: vscode.Uri): string {
    const nonce = randomBytes(16).toString("base64");
    const uri = (file: string): string => webview.asWebviewUri(vscode.Uri.joinPath(media, file)).toString();
    const csp = [
      "default-src 'none'",
      `style-src ${webview.cspSource}`,
      `font-src ${webview.cspSource}`,
      `img-src ${webview.cspSource}`,
      `script-src 'nonce-${nonce}'`,
    ].join("; ");
    return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${uri("codicon.css")}">
<link rel="stylesheet" href="${uri("webview.css")}">
<title>Margins</title>
</head>
<body>
<script nonce="${nonce}" src="${uri("webview.js")}"></script>
</body>
</html>`;
  }

  dispose(): void {
    for (const d of this.disposables) d.dispose();
  }
}
