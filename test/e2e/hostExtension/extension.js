// Test-only companion extension: answers the e2e driver from inside the extension host, writing
// JSON files into $ASK_CODEBASE_E2E_DIR (environment variables on code-server reach the host).
const fs = require("node:fs");
const path = require("node:path");
const vscode = require("vscode");

function write(name, data) {
  const dir = process.env.ASK_CODEBASE_E2E_DIR;
  if (!dir) return;
  fs.writeFileSync(path.join(dir, `${name}.tmp`), JSON.stringify(data, null, 1));
  fs.renameSync(path.join(dir, `${name}.tmp`), path.join(dir, name));
}

function activate(context) {
  // A window opened on another folder starts a new host: its reports go on from the last one's numbers.
  const dir = process.env.ASK_CODEBASE_E2E_DIR;
  let reports = dir ? Math.max(0, ...fs.readdirSync(dir).map((n) => Number(/^report-(\d+)\.json$/.exec(n)?.[1] ?? 0))) : 0;
  context.subscriptions.push(
    vscode.commands.registerCommand("askCodebaseTest.report", async () => {
      const api = vscode.extensions.getExtension("ask-codebase.ask-codebase").exports.test;
      const editor = vscode.window.activeTextEditor;
      const run = api.lastRun();
      write(`report-${++reports}.json`, {
        editor: editor ? { path: editor.document.uri.fsPath, start: editor.selection.start.line, end: editor.selection.end.line } : null,
        run: run ? { runId: run.runId, question: run.question, events: run.events.filter((e) => e.type !== "margin-token" && e.type !== "answer-token") } : null,
        answerMarginIds: api.answerMarginIds() ?? null,
        enginePid: api.engineProcessId() ?? null,
        model: vscode.workspace.getConfiguration("askCodebase").get("model"),
        settings: Object.fromEntries(["classify", "segmentTokens", "marginTokens", "answerTokens"].map((name) => [name, vscode.workspace.getConfiguration("askCodebase").get(name)])),
        // What the workspace's own .vscode/settings.json tries to set, and what the extension reads.
        repositorySettings: Object.fromEntries(["serverUrl", "modelEndpoint", "model"].map((name) => [name, vscode.workspace.getConfiguration("askCodebase").get(name)])),
      });
    }),
    // The askCodebase settings named in use-settings.json, set as a user would (editing settings.json
    // by hand from the driver was not seen by code-server's settings watcher).
    vscode.commands.registerCommand("askCodebaseTest.useSettings", async () => {
      const settings = JSON.parse(fs.readFileSync(path.join(process.env.ASK_CODEBASE_E2E_DIR, "use-settings.json"), "utf8"));
      for (const [key, value] of Object.entries(settings)) await vscode.workspace.getConfiguration("askCodebase").update(key, value, vscode.ConfigurationTarget.Global);
    }),
    vscode.commands.registerCommand("askCodebaseTest.runSuite", async () => {
      const suite = require(process.env.ASK_CODEBASE_E2E_SUITE);
      // Written before each test: a suite that never ends is then known by the test it hangs in.
      write("suite.json", await suite.run((progress) => write("suite-progress.json", progress)));
    }),
  );
  write("host-ready.json", { pid: process.pid });
}

module.exports = { activate };
