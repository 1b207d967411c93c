// The engine in its own process, driven through EngineClient as the extension drives it.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { rmSync } from "node:fs";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { WimEvent } from "../../src/core/wim/events";
import type { RunSettings } from "../../src/shared/engineProtocol";
import { ask, runSettings } from "../support/engineRuns";
import { EngineClient } from "../../src/client/engineClient";
import { tempDir, writeTree } from "../support/fixtures";
import { testModelPath } from "../support/models";
import { SHAPES, writeTestModel } from "../support/testModel";
import { cpus, totalmem } from "node:os";
import { suggestModel } from "../../src/shared/modelCatalog";

const HOST = resolve("dist/engineHost.js");
const dir = tempDir();
const cacheDir = tempDir();
let settings: RunSettings;
const events: WimEvent[] = [];
const statuses: string[] = [];
const exits: string[] = [];
let client: EngineClient;

before(() => {
  const files: Record<string, string> = {};
  for (const name of ["a", "b", "c"]) files[`${name}.ts`] = Array.from({ length: 30 }, (_, i) => `export const ${name}${i} = ${i}; // ${name}\n`).join("");
  writeTree(dir.path, files);
  settings = runSettings({ model: testModelPath("tiny"), segmentTokens: 256, marginTokens: 6, answerTokens: 6, classify: "separate", cacheDir: cacheDir.path, cacheSizeMiB: 1024 });
  client = new EngineClient({ script: HOST, onEvent: (e) => events.push(e), onStatus: (s) => statuses.push(s), onExit: (r) => exits.push(r) });
});
after(async () => {
  await client.dispose();
  dir.dispose();
  cacheDir.dispose();
});

async function finished(runId: string, timeoutMs = 60_000): Promise<WimEvent> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const end = events.find((e) => e.runId === runId && (e.type === "done" || e.type === "error"));
    if (end) return end;
    if (Date.now() > until) throw new Error(`run ${runId} did not finish`);
    await sleep(20);
  }
}

async function until(runId: string, type: WimEvent["type"], timeoutMs = 60_000): Promise<WimEvent> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const found = events.find((e) => e.runId === runId && e.type === type);
    if (found) return found;
    if (Date.now() > end) throw new Error(`run ${runId} sent no ${type}`);
    await sleep(20);
  }
}

const alive = (pid: number): boolean => { try { process.kill(pid, 0); return true; } catch { return false; } };

test("a question runs in the engine process and its events reach the extension", async () => {
  const summary = await client.plan([dir.path], "What is b7?", settings);
  assert.equal(summary.files, 3);
  assert.ok(summary.segments >= 2 && summary.tokens > 0 && summary.contextSize === 32768);
  await client.run("run-1", summary.planId);
  const end = await finished("run-1");
  assert.equal(end.type, "done");
  assert.equal((end as Extract<WimEvent, { type: "done" }>).stoppedBy, "finished");
  assert.equal(events.filter((e) => e.runId === "run-1" && e.type === "margin-done").length, summary.segments);
  assert.notEqual(client.pid, process.pid);
});

test("the model stays loaded between questions, and the second reads the codebase from the warm cache", async () => {
  const loadsBefore = statuses.filter((s) => s === "loading the model").length;
  await ask(client, "run-2", [dir.path], "What is c3?", settings);
  assert.equal((await finished("run-2")).type, "done");
  assert.equal(statuses.filter((s) => s === "loading the model").length, loadsBefore);
  assert.ok(events.some((e) => e.runId === "run-1" && e.type === "cache-saved" && e.bytes > 0), "the first run cached the codebase");
  const started = events.find((e): e is Extract<WimEvent, { type: "run-started" }> => e.runId === "run-2" && e.type === "run-started")!;
  assert.equal(started.reusedSegments, started.segments);
});

test("a second question while one runs stops the first and answers the second", async () => {
  await ask(client, "run-3", [dir.path], "What is a1?", { ...settings, marginTokens: 200 });
  while (!events.some((e) => e.runId === "run-3" && e.type === "margin-token")) await sleep(10);
  await ask(client, "run-4", [dir.path], "What is a2?", settings);
  const first = (await finished("run-3")) as Extract<WimEvent, { type: "done" }>;
  assert.equal(first.type, "done");
  assert.equal(first.stoppedBy, "aborted");
  assert.equal(((await finished("run-4")) as Extract<WimEvent, { type: "done" }>).stoppedBy, "finished");
});

test("a native abort kills only the engine process; the run ends with a reason, and the next question works", async () => {
  await ask(client, "run-5", [dir.path], "What is b1?", { ...settings, marginTokens: 200 });
  while (!events.some((e) => e.runId === "run-5" && e.type === "margin-token")) await sleep(10);
  const pid = client.pid!;
  client.control({ type: "crash", how: "abort" });
  const end = await finished("run-5");
  assert.equal(end.type, "error");
  assert.match((end as Extract<WimEvent, { type: "error" }>).message, /the engine process stopped \(SIGABRT\).*ask again/);
  assert.equal(exits.length, 1);
  assert.ok(!alive(pid));
  await ask(client, "run-6", [dir.path], "What is b2?", settings);
  assert.equal(((await finished("run-6")) as Extract<WimEvent, { type: "done" }>).stoppedBy, "finished");
  assert.notEqual(client.pid, pid);
});

test("messages sent to an engine process as it dies are not errors nobody hears; the next question starts a new one", async () => {
  await client.stats();
  const child = (client as unknown as { child: ChildProcess }).child;
  const gone = Promise.all([once(child, "exit"), once(child, "disconnect")]);
  child.kill("SIGKILL");
  await gone;
  // What a cancel or a control message meets when it races the death: a closed channel, one
  // 'error' event per send (EPIPE when the pipe closes mid-write).
  child.send({ type: "stats", requestId: "late-1" });
  child.send({ type: "stats", requestId: "late-2" });
  await sleep(50);
  await ask(client, "run-late", [dir.path], "What is a1?", settings);
  assert.equal(((await finished("run-late")) as Extract<WimEvent, { type: "done" }>).stoppedBy, "finished");
  assert.notEqual(client.pid, child.pid);
});

test("when the extension host dies mid-run, the engine process does not stay behind", async () => {
  // A parent that starts a question and is killed outright while margins are being written, as a
  // reloaded extension host is.
  const long = { ...settings, marginTokens: 400 };
  const script = `
    const { EngineClient } = require(${JSON.stringify(resolve("src/client/engineClient.ts"))});
    let told = false;
    const c = new EngineClient({ script: ${JSON.stringify(HOST)}, onEvent: (e) => {
      if (e.type === "margin-token" && !told) { told = true; console.log("engine " + c.pid); }
    } });
    c.plan([${JSON.stringify(dir.path)}], "What is a3?", ${JSON.stringify(long)}).then((s) => c.run("orphan", s.planId));`;
  const parent = spawn(process.execPath, ["--require", "tsx/cjs", "-e", script], { stdio: ["ignore", "pipe", "inherit"] });
  let out = "";
  parent.stdout.on("data", (d: Buffer) => (out += d));
  while (!/engine \d+/.test(out)) await sleep(20);
  const pid = Number(/engine (\d+)/.exec(out)![1]);
  assert.ok(alive(pid));
  parent.kill("SIGKILL");
  const until = Date.now() + 10_000;
  while (alive(pid) && Date.now() < until) await sleep(50);
  assert.ok(!alive(pid), "the engine process exits once its parent is gone");
});

test("the plan the summary showed is the one that runs: a file changed since is read again and said, an unknown plan is refused", async () => {
  const own = tempDir();
  try {
    writeTree(own.path, { "x.ts": "export const x = 1;\n", "y.ts": "export const y = 2;\n", "z.ts": "export const z = 3;\n" });
    const summary = await client.plan([own.path], "What is y?", settings);
    assert.equal(summary.files, 3);
    writeTree(own.path, { "y.ts": "export const y = 22; // changed after the summary\n", "new.ts": "export const n = 4;\n" });
    rmSync(join(own.path, "z.ts"));
    await client.run("run-changed", summary.planId);
    const started = (await until("run-changed", "run-started")) as Extract<WimEvent, { type: "run-started" }>;
    assert.deepEqual({ changed: started.changed, removed: started.removed, files: started.files }, { changed: ["y.ts"], removed: ["z.ts"], files: 2 }, "a file added since is not read: it was not in the summary");
    assert.equal((await finished("run-changed")).type, "done");
    // A plan runs once; an id the engine never made is refused in words.
    await client.run("run-again", summary.planId);
    const refused = (await finished("run-again")) as Extract<WimEvent, { type: "error" }>;
    assert.match(refused.message, /no longer held .* ask again/);
  } finally {
    own.dispose();
  }
});

test("a question reads each file once and tokenizes its text once, from plan to first margin", async () => {
  const own = tempDir();
  try {
    const files: Record<string, string> = {};
    for (const name of ["p", "q", "r", "s"]) files[`${name}.ts`] = Array.from({ length: 40 }, (_, i) => `export const ${name}${i} = ${i} * 11; // ${name} line ${i}\n`).join("");
    writeTree(own.path, files);
    const chars = Object.values(files).reduce((n, t) => n + t.length, 0);
    const before = (await client.stats()).tokenizedChars;
    await ask(client, "run-once", [own.path], "What is q7?", { ...settings, cacheSizeMiB: 0 });
    assert.equal((await finished("run-once")).type, "done");
    const passes = ((await client.stats()).tokenizedChars - before) / chars;
    // Once, plus the few headers a piece carries and the question itself: well under twice.
    assert.ok(passes >= 1 && passes < 1.2, `the codebase's text was tokenized ${passes.toFixed(2)} times`);
  } finally {
    own.dispose();
  }
});

test("a codebase of several windows is read likeliest window first, and the summary says why, how many windows and how long", async () => {
  const own = tempDir();
  const model = join(own.path, "..", `short-context-${process.pid}.gguf`);
  try {
    // A 2k-context model: about 7k tokens of code take several windows.
    writeTestModel(model, { shape: { ...SHAPES.tiny, context: 2048 } });
    const files: Record<string, string> = {};
    for (const name of ["alpha", "beta", "gamma", "delta", "eps"]) files[`${name}.ts`] = Array.from({ length: 60 }, (_, i) => `export const ${name}${i} = ${i} * 3; // ${name} line ${i}\n`).join("");
    // Last by path, and the one the question is about.
    files["zz/retry.ts"] = "export function retryBackoffMillis(attempt: number): number {\n  return 250 * 2 ** attempt;\n}\n";
    writeTree(own.path, files);
    const short = { ...settings, model, cacheSizeMiB: 0 };
    const summary = await client.plan([own.path], "Where is retryBackoffMillis defined?", short);
    assert.equal(summary.order?.by, "relevance");
    assert.equal(summary.order?.leading[0], "retryBackoffMillis");
    assert.ok(summary.estimate && summary.estimate.windows > 1, JSON.stringify(summary.estimate));
    assert.ok(summary.estimate.highSeconds > summary.estimate.lowSeconds);
    await client.run("run-relevance", summary.planId);
    const started = (await until("run-relevance", "run-started")) as Extract<WimEvent, { type: "run-started" }>;
    const first = (await until("run-relevance", "margin-done")) as Extract<WimEvent, { type: "margin-done" }>;
    assert.equal(first.segment, 0);

    // The plan counts the prompts with an allowance for the chat template: never fewer windows than the run takes.
    assert.ok(started.windows <= summary.estimate.windows && started.windows >= summary.estimate.windows - 1, `${started.windows} vs ${summary.estimate.windows}`);
    assert.ok(started.windowTokens >= 0.8 * 2048 - 200, `a window holds most of the context: ${started.windowTokens}`);
    assert.equal((await finished("run-relevance")).type, "done");
    // The files keep their places (the windows are the same for every question): the window that
    // holds the likeliest file, the last by path, is read first.
    const run = events.filter((e) => e.runId === "run-relevance");
    const firstWindow = run.slice(0, run.findIndex((e) => e.type === "window-started")).filter((e) => e.type === "margin-done");
    assert.ok(firstWindow.some((m) => m.sources.some((s) => s.path === "zz/retry.ts")), `the first window read holds the likeliest file: ${JSON.stringify(firstWindow.map((m) => m.sources.map((s) => s.path)))}`);
    assert.ok(run.some((e) => e.type === "margin-done" && e.sources.some((s) => s.path === "alpha.ts")), "the other windows are read after it");
    // One window: path order, for the warm cache.
    const one = await client.plan([dir.path], "What is b7?", settings);
    assert.equal(one.order?.by, "path");
    assert.equal(one.estimate?.windows, 1);
    client.dropPlan(one.planId);
  } finally {
    own.dispose();
    rmSync(model, { force: true });
  }
});

test("the engine describes the machine a model is suggested for: memory, cores, and the GPU its backends see", async () => {
  const m = await client.machine();
  assert.equal(m.ramBytes, totalmem());
  assert.equal(m.cores, cpus().length);
  // Where a GPU answers (the H200), it has a name and memory; on this kind of CPU machine none does,
  // and a software rasteriser offered as a Vulkan device does not count.
  if (m.gpu) {
    assert.ok(m.gpu.name.length > 0 && !/llvmpipe/i.test(m.gpu.name), m.gpu.name);
    assert.ok(m.gpu.vramBytes > 2 ** 30, `${m.gpu.vramBytes} bytes of GPU memory`);
    assert.equal(suggestModel(m).where, "gpu");
  } else {
    assert.equal(suggestModel(m).where, "cpu");
  }
});
