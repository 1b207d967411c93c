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
  assert.equal(absolutePath(["/w/app"], "..hidden.ts"), "/w/app/..hidden.ts");
});

test("a file is inside a root only under it, however its path is spelled", async () => {
  const { insideAny } = await import("../../src/extension/paths");
  assert.ok(insideAny(["/w/app"], "/w/app/src/a.ts"));
  assert.ok(insideAny(["/w/app"], "/w/app"));
  assert.ok(insideAny(["/w/lib", "/w/app/"], "/w/app/x/../y.ts"));
  for (const out of ["/w/application/a.ts", "/w/a.ts", "/w/app/../lib/a.ts", "/etc/passwd"]) assert.ok(!insideAny(["/w/app"], out), out);
  // A name that only begins with two dots is inside.
  assert.ok(insideAny(["/w/app"], "/w/app/..hidden.ts"));
});

test("a source range reads the same in both hosts, and selects lines the document has", async () => {
  const { selectedLines, sourceLabel } = await import("../../src/shared/lines");
  assert.equal(sourceLabel("a.ts", 3, 9), "a.ts:3-9");
  assert.equal(sourceLabel("a.ts", 3, 3), "a.ts:3");
  assert.equal(sourceLabel("empty.ts", 0, 0), "empty.ts (empty)");
  assert.deepEqual(selectedLines(3, 9, 20), { first: 2, last: 8 });
  // An empty file (range 0-0) opens as VS Code's one empty line; a file shorter than when it was read keeps its end.
  assert.deepEqual(selectedLines(0, 0, 1), { first: 0, last: 0 });
  assert.deepEqual(selectedLines(15, 30, 10), { first: 9, last: 9 });
  assert.deepEqual(selectedLines(5, 2, 10), { first: 4, last: 4 });
});
