// In-host tests: they run inside VS Code's extension host and call the vscode API and the
// extension's API. The same run() serves code-server (through test/e2e/hostExtension) and
// @vscode/test-electron (test/e2e/electron.js). Plain JavaScript: it is loaded as it is.
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const vscode = require("vscode");

const EXTENSION_ID = "ask-codebase.ask-codebase";

/** The extension's API with its test hooks (present because the driver sets ASK_CODEBASE_TEST_API). */
async function api() {
  const ext = vscode.extensions.getExtension(EXTENSION_ID);
  assert.ok(ext, `${EXTENSION_ID} is installed`);
  const exported = ext.isActive ? ext.exports : await ext.activate();
  assert.ok(exported.test, "the test hooks are there under test");
  return { ...exported, ...exported.test };
}

async function until(check, timeoutMs = 60000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > end) throw new Error("timed out waiting");
    await new Promise((r) => setTimeout(r, 25));
  }
}

/**
 * Runs `fn` with an edit left unsaved: VS Code in a browser (code-server) saves after a second by
 * default, so autosave is off meanwhile; afterwards the active editor is reverted and closed.
 */
async function whileUnsaved(fn) {
  const files = vscode.workspace.getConfiguration("files");
  await files.update("autoSave", "off", vscode.ConfigurationTarget.Global);
  try {
    await fn();
  } finally {
    await vscode.commands.executeCommand("workbench.action.files.revert");
    await vscode.commands.executeCommand("workbench.action.closeActiveEditor");
    await files.update("autoSave", undefined, vscode.ConfigurationTarget.Global);
  }
}

const tests = [
  ["the extension activates and contributes its commands", async () => {
    await api();
    const commands = await vscode.commands.getCommands(true);
    for (const c of ["askCodebase.ask", "askCodebase.stop", "askCodebase.answerNow", "askCodebase.selectModel", "askCodebase.reanswer", "askCodebase.clearCache", "askCodebase.setServerApiKey", "askCodebase.buildCuda"]) assert.ok(commands.includes(c), c);
  }],
  ["a question runs to an answer, with a margin per segment", async () => {
    const a = await api();
    const runId = await a.ask("Which function multiplies by 7?");
    const end = await a.whenEnded(runId);
    assert.equal(end.type, "done", JSON.stringify(end));
    assert.equal(end.stoppedBy, "finished");
    const events = a.lastRun().events;
    const started = events.find((e) => e.type === "run-started");
    assert.equal(events.filter((e) => e.type === "margin-done").length, started.segments);
    assert.ok(events.every((e) => e.runId === runId));
  }],
  ["a rejected margin is left out of the re-answer's prompt", async () => {
    const a = await api();
    const before = a.answerMarginIds();
    assert.ok(before.length >= 2, `kept ${before}`);
    const rejected = before[1];
    a.setRejected(rejected, true);
    const runId = a.lastRun().runId;
    await a.reanswer();
    await until(() => a.lastRun().events.some((e) => e.type === "done"));
    assert.ok(!a.answerMarginIds().includes(rejected));
    a.setRejected(rejected, false);
    assert.equal(a.lastRun().runId, runId);
  }],
  ["answer now stops reading early", async () => {
    const a = await api();
    const runId = await a.ask("Where is the main entry point?");
    await until(() => a.lastRun().events.some((e) => e.type === "margin-done"));
    await vscode.commands.executeCommand("askCodebase.answerNow");
    const end = await a.whenEnded(runId);
    const started = a.lastRun().events.find((e) => e.type === "run-started");
    assert.equal(end.stoppedBy, "answer-now");
    assert.ok(end.segmentsRead < started.segments, `${end.segmentsRead} of ${started.segments}`);
  }],
  ["a source opens in the editor with its lines selected; a path outside the run is refused", async () => {
    const a = await api();
    const margin = a.lastRun().events.find((e) => e.type === "margin-done");
    const source = margin.sources.filter((s) => s.endLine > 0).at(-1);
    assert.ok(await a.openSource(source.path, source.startLine, source.endLine));
    const editor = vscode.window.activeTextEditor;
    assert.ok(editor.document.uri.fsPath.endsWith(path.join(...source.path.split("/"))));
    assert.equal(editor.selection.start.line, source.startLine - 1);
    assert.equal(editor.selection.end.line, source.endLine - 1);
    assert.equal(await a.openSource("../../etc/passwd", 1, 1), false);
    const sources = a.lastRun().events.filter((e) => e.type === "margin-done").flatMap((e) => e.sources);
    const empty = sources.find((s) => s.path === "src/empty.ts");
    assert.deepEqual(empty && [empty.startLine, empty.endLine], [0, 0], JSON.stringify(sources));
    assert.ok(await a.openSource(empty.path, 0, 0));
    assert.ok(vscode.window.activeTextEditor.document.uri.fsPath.endsWith(path.join("src", "empty.ts")));
    assert.equal(vscode.window.activeTextEditor.selection.start.line, 0);
    // Removed since the run read it: refused (with a warning to the user), never a failed command.
    const root = vscode.workspace.workspaceFolders[0].uri.fsPath;
    // (One no editor holds: VS Code serves an open document from memory.)
    const gone = sources.find((s) => s.endLine > 0 && s.path !== source.path);
    const file = path.join(root, ...gone.path.split("/"));
    fs.renameSync(file, `${file}.away`);
    try {
      assert.equal(await a.openSource(gone.path, gone.startLine, gone.endLine), false);
    } finally {
      fs.renameSync(`${file}.away`, file);
    }
  }],
  ["when the engine process dies mid-run the run ends with a reason and the next question works", async () => {
    const a = await api();
    const runId = await a.ask("What does util return?");
    await until(() => a.lastRun().events.some((e) => e.type === "margin-token"));
    const pid = a.engineProcessId();
    a.crashEngine();
    const end = await a.whenEnded(runId);
    assert.equal(end.type, "error");
    assert.match(end.message, /engine process stopped/);
    const next = await a.ask("What does util return?");
    assert.equal((await a.whenEnded(next)).stoppedBy, "finished");
    assert.notEqual(a.engineProcessId(), pid);
  }],
  ["with the warm cache on, a second question reads the codebase from it, fused verdicts and all", async () => {
    const a = await api();
    const config = vscode.workspace.getConfiguration("askCodebase");
    await config.update("cacheSizeMiB", 512, vscode.ConfigurationTarget.Global);
    await config.update("classify", "fused", vscode.ConfigurationTarget.Global);
    try {
      const first = await a.ask("Where is the retry delay computed?");
      const firstEnd = await a.whenEnded(first);
      assert.equal(firstEnd.stoppedBy, "finished", JSON.stringify(firstEnd));
      await until(() => a.lastRun().events.some((e) => e.type === "cache-saved"));
      const saved = a.lastRun().events.find((e) => e.type === "cache-saved");
      assert.ok(!saved.error && saved.bytes > 0, JSON.stringify(saved));
      const second = await a.ask("Which function multiplies by 7?");
      const secondEnd = await a.whenEnded(second);
      assert.equal(secondEnd.stoppedBy, "finished", JSON.stringify(secondEnd));
      const events = a.lastRun().events;
      const started = events.find((e) => e.type === "run-started");
      assert.equal(started.reusedSegments, started.segments);
      assert.deepEqual(events.filter((e) => e.type === "margin-done").map((e) => e.segment), [...Array(started.segments).keys()].reverse());
      // Fused: every margin's verdict arrives with it.
      assert.equal(events.filter((e) => e.type === "margin-classified").length, started.segments);
    } finally {
      await config.update("cacheSizeMiB", undefined, vscode.ConfigurationTarget.Global);
      await config.update("classify", undefined, vscode.ConfigurationTarget.Global);
    }
  }],
  ["a file in the legacy encoding files.encoding names is read in it, not skipped as binary", async () => {
    const a = await api();
    const root = vscode.workspace.workspaceFolders[0].uri.fsPath;
    const file = path.join(root, "src", "legacy.ts");
    // "日本語" in Shift-JIS: not UTF-8, and Windows-1252 would read it as other letters.
    fs.writeFileSync(file, Buffer.concat([Buffer.from("// "), Buffer.from([0x93, 0xfa, 0x96, 0x7b, 0x8c, 0xea]), Buffer.from("\nexport const legacyMarker = 1;\n")]));
    const files = vscode.workspace.getConfiguration("files");
    await files.update("encoding", "shiftjis", vscode.ConfigurationTarget.Global);
    try {
      const runId = await a.ask("Where is legacyMarker defined?");
      assert.equal((await a.whenEnded(runId)).stoppedBy, "finished");
      const run = a.lastRun();
      assert.deepEqual(run.plan.decodedByEncoding, { shift_jis: 1 }, JSON.stringify(run.plan));
      const sources = run.events.filter((e) => e.type === "margin-done").flatMap((e) => e.sources.map((s) => s.path));
      assert.ok(sources.includes("src/legacy.ts"), JSON.stringify(sources));
    } finally {
      await files.update("encoding", undefined, vscode.ConfigurationTarget.Global);
      fs.rmSync(file, { force: true });
    }
  }],
  ["a file with unsaved changes is read as its editor holds it, and its sources' lines are the editor's", async () => {
    const a = await api();
    const root = vscode.workspace.workspaceFolders[0].uri.fsPath;
    const file = path.join(root, "src", "module03.ts");
    const onDisk = fs.readFileSync(file, "utf8");
    const doc = await vscode.workspace.openTextDocument(file);
    await whileUnsaved(async () => {
      await vscode.window.showTextDocument(doc);
      const edit = new vscode.WorkspaceEdit();
      let added = "";
      for (let i = 1; i <= 20; i++) added += `export const unsavedMarker${i} = ${i};\n`;
      edit.insert(doc.uri, new vscode.Position(0, 0), added);
      assert.ok(await vscode.workspace.applyEdit(edit));
      assert.ok(doc.isDirty);
      const runId = await a.ask("Where is unsavedMarker7 defined?");
      assert.equal((await a.whenEnded(runId)).stoppedBy, "finished");
      const run = a.lastRun();
      assert.deepEqual(run.plan.unsaved, ["src/module03.ts"], JSON.stringify(run.plan));
      const sources = run.events.filter((e) => e.type === "margin-done").flatMap((e) => e.sources).filter((s) => s.path === "src/module03.ts");
      // 72 lines on disk, 92 in the editor (its last line is the empty one after the final newline).
      assert.equal(Math.max(...sources.map((s) => s.endLine)), doc.lineCount - 1, JSON.stringify(sources));
      assert.equal(doc.lineCount - 1, onDisk.split("\n").length - 1 + 20);
      assert.equal(fs.readFileSync(file, "utf8"), onDisk, "the disk is not written");
    });
    assert.ok(!doc.isDirty);
    assert.equal(fs.readFileSync(file, "utf8"), onDisk);
  }],
  ["what files.exclude and search.exclude hide is not read, and the plan says which pattern hid it", async () => {
    const a = await api();
    const files = vscode.workspace.getConfiguration("files");
    const search = vscode.workspace.getConfiguration("search");
    await files.update("exclude", { "**/module07.ts": true }, vscode.ConfigurationTarget.Global);
    await search.update("exclude", { "src/module0[8]*": true }, vscode.ConfigurationTarget.Global);
    try {
      const runId = await a.ask("Which function multiplies by 7?");
      assert.equal((await a.whenEnded(runId)).stoppedBy, "finished");
      const run = a.lastRun();
      assert.equal(run.plan.skippedByReason.excluded, 2, JSON.stringify(run.plan));
      const sources = run.events.filter((e) => e.type === "margin-done").flatMap((e) => e.sources.map((s) => s.path));
      assert.ok(sources.includes("src/module06.ts") && !sources.includes("src/module07.ts") && !sources.includes("src/module08.ts"), JSON.stringify(sources));
      // Turned off, as the search view's "Use Exclude Settings" is: they are read again.
      await vscode.workspace.getConfiguration("askCodebase").update("useExcludeSettings", false, vscode.ConfigurationTarget.Global);
      const again = await a.ask("Which function multiplies by 7?");
      assert.equal((await a.whenEnded(again)).stoppedBy, "finished");
      assert.equal(a.lastRun().plan.skippedByReason.excluded, undefined);
    } finally {
      await files.update("exclude", undefined, vscode.ConfigurationTarget.Global);
      await search.update("exclude", undefined, vscode.ConfigurationTarget.Global);
      await vscode.workspace.getConfiguration("askCodebase").update("useExcludeSettings", undefined, vscode.ConfigurationTarget.Global);
    }
  }],
  ["a notebook is read as its cells, and its source opens in the notebook editor at the cell it came from", async () => {
    const a = await api();
    const root = vscode.workspace.workspaceFolders[0].uri.fsPath;
    const file = path.join(root, "src", "plots.ipynb");
    const cell = (type, source, outputs) => ({ cell_type: type, metadata: {}, source, ...(type === "code" ? { execution_count: 1, outputs: outputs ?? [] } : {}) });
    const image = { output_type: "display_data", metadata: {}, data: { "image/png": "iVBORw0KGgo".padEnd(200000, "A") } };
    fs.writeFileSync(file, JSON.stringify({
      nbformat: 4, nbformat_minor: 5, metadata: { kernelspec: { name: "python3", display_name: "Python 3", language: "python" } },
      cells: [cell("markdown", ["# Plots\n"]), cell("code", ["import math\n"]), cell("code", ["def plotMarker():\n", "    return math.pi\n"], [image])],
    }));
    try {
      const runId = await a.ask("What does plotMarker return?");
      assert.equal((await a.whenEnded(runId)).stoppedBy, "finished");
      const sources = a.lastRun().events.filter((e) => e.type === "margin-done").flatMap((e) => e.sources).filter((s) => s.path === "src/plots.ipynb");
      assert.equal(sources.length, 1, JSON.stringify(sources));
      // Its cells' text, not the file's 200 kB of JSON: 3 cells, each a marker, its lines and a blank line (the last one the final newline).
      assert.deepEqual([sources[0].startLine, sources[0].endLine], [1, 9]);
      // Line 7 is the third cell's marker.
      assert.ok(await a.openSource("src/plots.ipynb", 7, 7));
      const editor = vscode.window.activeNotebookEditor;
      assert.ok(editor && editor.notebook.uri.fsPath === file, "the notebook editor shows it");
      assert.equal(editor.selection.start, 2);
    } finally {
      await vscode.commands.executeCommand("workbench.action.closeActiveEditor");
      fs.rmSync(file, { force: true });
    }
  }],
  ["a notebook with unsaved cells is read as the notebook editor holds it, and its sources open at the cells the run read", async () => {
    const a = await api();
    const root = vscode.workspace.workspaceFolders[0].uri.fsPath;
    const file = path.join(root, "src", "draft.ipynb");
    const cell = (type, source) => ({ cell_type: type, metadata: {}, source, ...(type === "code" ? { execution_count: 1, outputs: [] } : {}) });
    const onDisk = JSON.stringify({
      nbformat: 4, nbformat_minor: 5, metadata: { kernelspec: { name: "python3", display_name: "Python 3", language: "python" } },
      cells: [cell("markdown", ["# Draft\n"]), cell("code", ["import math\n"]), cell("code", ["def draftMarker():\n", "    return math.e\n"])],
    });
    fs.writeFileSync(file, onDisk);
    try {
      await whileUnsaved(async () => {
        const notebook = await vscode.workspace.openNotebookDocument(vscode.Uri.file(file));
        await vscode.window.showNotebookDocument(notebook);
        const edit = new vscode.WorkspaceEdit();
        edit.set(notebook.uri, [vscode.NotebookEdit.insertCells(0, [new vscode.NotebookCellData(vscode.NotebookCellKind.Code, "a = 1\nb = 2\nc = 3", "python")])]);
        assert.ok(await vscode.workspace.applyEdit(edit));
        assert.ok(notebook.isDirty);
        const runId = await a.ask("What does draftMarker return?");
        assert.equal((await a.whenEnded(runId)).stoppedBy, "finished");
        const run = a.lastRun();
        assert.deepEqual(run.plan.unsaved, ["src/draft.ipynb"], JSON.stringify(run.plan));
        const sources = run.events.filter((e) => e.type === "margin-done").flatMap((e) => e.sources).filter((s) => s.path === "src/draft.ipynb");
        // The new cell's 5 lines (marker, 3 lines, blank) before the 9 the disk's three cells make.
        assert.deepEqual([sources[0].startLine, Math.max(...sources.map((s) => s.endLine))], [1, 14], JSON.stringify(sources));
        // Line 12 is draftMarker's cell marker: the fourth cell now, the third on disk.
        assert.ok(await a.openSource("src/draft.ipynb", 12, 12));
        assert.equal(vscode.window.activeNotebookEditor.selection.start, 3);
        assert.equal(fs.readFileSync(file, "utf8"), onDisk, "the disk is not written");
      });
    } finally {
      fs.rmSync(file, { force: true });
    }
  }],
];

/** Runs every test; returns { passed, failed, results }. `progress` hears which test starts, after the results so far. */
async function run(progress = () => undefined) {
  const results = [];
  for (const [name, fn] of tests) {
    const started = Date.now();
    progress({ running: name, results });
    try {
      await fn();
      results.push({ name, ok: true, ms: Date.now() - started });
    } catch (err) {
      results.push({ name, ok: false, ms: Date.now() - started, error: String(err && err.stack || err) });
    }
  }
  const failed = results.filter((r) => !r.ok).length;
  return { passed: results.length - failed, failed, results };
}

module.exports = { run };
