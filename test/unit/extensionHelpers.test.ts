// Pieces of the extension that need no VS Code: the default model and the path guard.
import { test } from "node:test";
import assert from "node:assert/strict";
import { isFromWebview } from "../../src/shared/webviewProtocol";

test("only known message shapes from the webview are accepted", () => {
  assert.ok(isFromWebview({ type: "ready" }));
  assert.ok(isFromWebview({ type: "open", path: "a.ts", startLine: 1, endLine: 2 }));
  for (const bad of [null, "ready", {}, { type: "run-command", command: "workbench.action.terminal.new" }, { type: 1 }]) assert.ok(!isFromWebview(bad), JSON.stringify(bad));
});

test("a shown path maps back into its root, and nothing outside a root is ever opened", async () => {
  const { absolutePath } = await import("../../src/extension/paths");
  assert.equal(absolutePath(["/w/app"], "src/a.ts"), "/w/app/src/a.ts");
  assert.equal(absolutePath(["/w/app", "/w/lib"], "lib/x/y.ts"), "/w/lib/x/y.ts");
  assert.equal(absolutePath(["/w/app", "/w/lib"], "app/z.ts"), "/w/app/z.ts");
  for (const bad of ["../etc/passwd", "src/../../etc/passwd", "/etc/passwd", ""]) assert.equal(absolutePath(["/w/app"], bad), undefined, bad);
  assert.equal(absolutePath(["/w/app", "/w/lib"], "other/z.ts"), undefined);
});
