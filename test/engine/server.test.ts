// The server engine against a real llama-server, built for the CPU from the llama.cpp source that
// node-llama-cpp ships (scripts/build-llama.sh: once per machine, minutes the first time),
// serving the tiny model the suite writes. Same model, same prompts: the margins and the answer
// must equal the local engine's, and the server's own cache counts must show each segment
// prefilled once. The model writes its byte tokens as control tokens (see WriteModelOptions.byteTokens).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createServer } from "node:net";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { planCodebase, type CodebasePlan } from "../../src/core/plan";
import type { WimEngine } from "../../src/core/wim/engine";
import type { WimEvent } from "../../src/core/wim/events";
import * as prompts from "../../src/core/wim/prompts";
import { WimSession, type WimOptions } from "../../src/core/wim/session";
import { openLlamaEngine, type LlamaEngine } from "../../src/engine/llama/llamaEngine";
import { openServerEngine, type ServerEngine } from "../../src/engine/server/serverEngine";
import { tempDir, writeTree } from "../support/fixtures";
import { testModelPath } from "../support/models";
import { ask, runSettings } from "../support/engineRuns";
import { compareRuns, extractTokens, Referee, runRecord } from "../support/parting";
import { bySlot, watchSequences, recordingProxy, type RecordingProxy } from "../support/wire";

const QUESTION = "Where is the retry delay computed?";
const dir = tempDir();
const slots = tempDir();
let server: ChildProcess;
let url: string;
let local: LlamaEngine;
let remote: ServerEngine;
let plan: CodebasePlan;
let referee: Referee;
let proxy: RecordingProxy;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
    s.on("error", reject);
  });
}

before(async () => {
  const binary = execFileSync("bash", ["scripts/build-llama.sh"], { encoding: "utf8", stdio: ["ignore", "pipe", "inherit"] }).trim();
  const model = testModelPath("tiny", { byteTokens: "control" });
  const port = await freePort();
  url = `http://127.0.0.1:${port}`;
  // Two slots (reader and classifier) of 8,192 tokens; one thread, as the local engine in these tests.
  // No host-memory prompt cache, and slot actions on, so a test can start from cold slots and count.
  server = spawn(binary, ["-m", model, "--host", "127.0.0.1", "--port", String(port), "-c", "16384", "-np", "2", "-t", "1", "-tb", "1",
    "--cache-ram", "0", "--slot-save-path", slots.path], { stdio: ["ignore", "ignore", "pipe"] });
  let log = "";
  server.stderr!.on("data", (d: Buffer) => { log = (log + d).slice(-4000); });
  for (let i = 0; ; i++) {
    if (server.exitCode !== null) throw new Error(`llama-server exited: ${log}`);
    const ok = await fetch(`${url}/health`).then((r) => r.ok, () => false);
    if (ok) break;
    if (i > 600) throw new Error(`llama-server did not become ready: ${log}`);
    await sleep(100);
  }
  writeTree(dir.path, {
    "src/retry.ts": Array.from({ length: 30 }, (_, i) => `export function retry${i}(attempt: number) { return attempt * ${i} + 1; } // retry line ${i}\n`).join(""),
    "src/http.ts": Array.from({ length: 30 }, (_, i) => `export function http${i}(status: number) { return status === ${200 + i}; } // http line ${i}\n`).join(""),
    "src/util.ts": Array.from({ length: 30 }, (_, i) => `export const util${i} = ${i} * 7; // util line ${i}\n`).join(""),
  });
  local = await openLlamaEngine({ modelPath: model, gpu: "cpu", threads: 1 });
  // The engine under test talks to the server through a proxy that records what it sends.
  proxy = await recordingProxy(url);
  remote = await openServerEngine({ url: proxy.url, modelPath: model });
  referee = await Referee.open(local);
  plan = await planCodebase([dir.path], { segmentTokens: 512, countTokens: (t) => local.tokenizeText(t).length });
  assert.ok(plan.segments.length >= 3, `${plan.segments.length} segments`);
});

after(async () => {
  await remote?.dispose();
  await referee?.dispose();
  await local?.dispose();
  await proxy?.close();
  server?.kill("SIGTERM");
  dir.dispose();
  slots.dispose();
});

async function run(engine: WimEngine, options: WimOptions): Promise<{ events: WimEvent[]; session: WimSession }> {
  const session = new WimSession(engine, { segments: plan.segments, files: plan.files.length }, QUESTION, { marginTokens: 10, answerTokens: 12, trace: true, ...options });
  const events: WimEvent[] = [];
  for await (const e of session.run()) events.push(e);
  assert.deepEqual(events.filter((e) => e.type === "error"), []);
  return { events, session };
}

const of = <T extends WimEvent["type"]>(events: WimEvent[], type: T): Extract<WimEvent, { type: T }>[] =>
  events.filter((e): e is Extract<WimEvent, { type: T }> => e.type === type);

test("the server's protocol and slots are detected", () => {
  assert.equal(remote.server.kind, "llama-server");
  assert.equal(remote.server.slots, 2);
  assert.equal(remote.server.contextPerSlot, 8192);
  assert.equal(remote.info.backend, "llama-server");
});

// The two engines batch the same tokens differently (the local one sends a segment's tail with its
// prompt, the server cuts its own micro-batches and, with a separate classifier, mixes its two
// slots in one batch when their requests meet), and kernels round by batch shape: the runs agree
// token for token wherever the model is decided (support/parting.ts).
for (const classify of ["off", "fused", "separate"] as const) {
  test(`classify ${classify}: margins, verdicts and the answer equal the local engine's, token for token where the model is decided`, async (t) => {
    const here = await run(local, { classify });
    const wire = watchSequences(remote);
    const from = proxy.completions.length;
    const there = await run(wire.engine, { classify });
    // What was sent is exact, whatever the kernels round: each call's whole sequence, to its slot.
    assert.ok(wire.expected.length > plan.segments.length);
    assert.deepEqual(bySlot(proxy.completions.slice(from)), bySlot(wire.expected), "the server was sent what each call asks for");
    const record = (r: typeof here) => runRecord(r.events, r.session.trace);
    const { parted, answerCompared } = await compareRuns(referee, record(here), record(there), extractTokens(local, QUESTION, classify));
    for (const p of parted) t.diagnostic(`parted where the model is torn: ${p}`);
    assert.ok(parted.length <= plan.segments.length / 2, `the runs parted at ${parted.length} of ${plan.segments.length} margins: ${parted.join("; ")}`);
    if (!answerCompared) t.diagnostic("the answers' prompts hold a parted margin: not compared");
  });
}

test("each segment is prefilled once: the server's own counts say how much it served from its cache", async () => {
  // The earlier runs left this codebase in the slots: start cold.
  for (const slot of [0, 1]) assert.ok((await fetch(`${url}/slots/${slot}?action=erase`, { method: "POST" })).ok);
  const before = { ...remote.reuse };
  const evaluatedBefore = remote.evaluatedTokens;
  const { events, session } = await run(remote, { classify: "off" });
  const sent = remote.reuse.promptTokens - before.promptTokens;
  const cached = remote.reuse.cachedTokens - before.cachedTokens;
  const computed = remote.evaluatedTokens - evaluatedBefore;
  const codebase = of(events, "run-started")[0]!.tokens;
  const reader = local.chatParts(prompts.READER_SYSTEM);
  const extract = local.tokenizeText(prompts.extractivePrompt(QUESTION)).length + reader.suffix.length;
  const n = plan.segments.length;
  const margins = session.trace.margins.reduce((k, m) => k + m.margin.length, 0);
  const answer = session.trace.answers[0]!;
  // Computed by the server: the opening and every segment once, each margin's prompt and tokens, the answer's.
  const opening = session.trace.margins[0]!.before.length - plan.segments[0]!.tokens;
  const expected = opening + codebase + n * extract + margins + answer.prompt.length + answer.answer.length;
  // Give or take a token per request: llama-server counts a sampled token for a cache fill, and
  // reuses the answer prompt's opening "---" from the last margin's prompt.
  assert.ok(Math.abs(computed - expected) <= 2 * n + 8, `the server computed ${computed} tokens, a single pass needs ${expected}`);
  // Every request after the first sent the prefix again, and the server served it from its cache.
  assert.ok(cached >= (n - 1) * codebase / 2, `${cached} of ${sent} prompt tokens from the cache`);
  const done = of(events, "done")[0]!;
  assert.deepEqual(done.serverCache, { promptTokens: sent, cachedTokens: cached }, "the run reports the server's cache use");
  assert.ok(of(events, "segment-progress").every((e) => e.serverCache && e.serverCache.cachedTokens <= e.serverCache.promptTokens));
});

test("an abort in the middle of a margin stops the request; the next run is exact", async () => {
  const reference = await run(remote, { classify: "off" });
  const controller = new AbortController();
  const s = new WimSession(remote, { segments: plan.segments, files: plan.files.length }, QUESTION, { marginTokens: 10, answerTokens: 12, classify: "off", signal: controller.signal });
  const events: WimEvent[] = [];
  for await (const e of s.run()) {
    events.push(e);
    if (e.type === "margin-token" && e.segment === 1) controller.abort();
  }
  assert.equal(of(events, "done")[0]!.stoppedBy, "aborted");
  const next = await run(remote, { classify: "off" });
  assert.deepEqual(next.session.margins.map((m) => m.text), reference.session.margins.map((m) => m.text));
});

test("an unreachable server, or one that is not a completions server, is refused with a clear message", async () => {
  const closed = `http://127.0.0.1:${await freePort()}`;
  await assert.rejects(openServerEngine({ url: closed, modelPath: testModelPath("tiny", { byteTokens: "control" }) }), /^ServerError: cannot reach the server at http:\/\/127\.0\.0\.1:\d+ \(ECONNREFUSED\): is it running, and is the URL right\?$/);
  await assert.rejects(openServerEngine({ url: `${url}/nothing-here/`, modelPath: testModelPath("tiny", { byteTokens: "control" }) }), /is neither llama-server \(GET \/props\) nor an OpenAI-compatible completions server/);
});

test("a run that needs more slots or context than the server has is refused before reading", async () => {
  await assert.rejects(remote.prepare({ tokensPerSequence: 9000, sequences: 1 }), /needs 9,000 tokens per slot, .* gives each slot 8,192/);
  await assert.rejects(remote.prepare({ tokensPerSequence: 100, sequences: 3 }), /needs 3 server slots, .* has 2 \(start llama-server with --parallel 3\)/);
});

test("the CLI asks through --server and reports the server's cache", () => {
  const r = spawnSync(process.execPath, [join("dist", "cli.js"), "ask", dir.path, QUESTION, "--model", testModelPath("tiny", { byteTokens: "control" }), "--server", url, "--segment-tokens", "512", "--margin-tokens", "4", "--answer-tokens", "4", "--cache-mib", "0"], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /── answer \(from \d+ margins\) ──/);
  assert.match(r.stderr, /with .* at http:\/\/127\.0\.0\.1:\d+ on llama-server/);
  assert.match(r.stderr, /^server: [\d,]+ prompt tokens sent, [\d,]+ \(\d+%\) served from its prefix cache$/m);
});

test("the extension's engine process asks through the server when the settings name one", async () => {
  const { EngineClient } = await import("../../src/client/engineClient");
  const events: WimEvent[] = [];
  const client = new EngineClient({ script: join("dist", "engineHost.js"), onEvent: (e) => events.push(e), onStatus: () => undefined, onExit: () => undefined });
  try {
    await ask(client, "via-server", [dir.path], QUESTION, runSettings({
      model: testModelPath("tiny", { byteTokens: "control" }), segmentTokens: 512, marginTokens: 4, answerTokens: 4, classify: "fused", serverUrl: url,
    }));
    for (let i = 0; !events.some((e) => e.type === "done" || e.type === "error"); i++) {
      if (i > 1200) throw new Error("the run did not end");
      await sleep(50);
    }
    assert.deepEqual(events.filter((e) => e.type === "error"), []);
    assert.equal(of(events, "run-started")[0]!.backend, "llama-server");
    assert.ok(of(events, "done")[0]!.serverCache!.cachedTokens > 0);
  } finally {
    await client.dispose();
  }
});
