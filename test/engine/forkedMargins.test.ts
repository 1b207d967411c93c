// A warm question's margins written on forks of the reader (src/core/wim/forkedMargins.ts) in the
// engine's real process, with the addon shim's shared cells (src/engine/backend/sharedCells.c).
// Forced on here (ASK_CODEBASE_FORKS=on), where the engine leaves them off everywhere unless asked. Forks'
// tokens travel in batches of other shapes than the reader's, and the CPU's kernels round by batch
// shape, so a random-weight model's greedy text (which follows the last bit) is not compared: its
// verdicts' scores are, closely, and the task-trained model must read as well on forks as on the
// reader, judging the same segments relevant and naming the same value. The shim counts each
// share, so the forks really hold the reader's cells; a cold reading shares nothing; an "answer
// now" or a stop while forks write ends the run cleanly, with the engine ready for the next one.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { EngineClient } from "../../src/client/engineClient";
import type { WimEvent } from "../../src/core/wim/events";
import { addonShimName } from "../../src/shared/addonShim";
import { ask, questionInEngineProcess, runSettings, written } from "../support/engineRuns";
import { tempDir, writeTree } from "../support/fixtures";
import { testModelPath } from "../support/models";
import { existsSync } from "node:fs";
import { makeTask } from "../../bench/fidelity/task";
import { TRAINING_CHARS } from "../../bench/fidelity/examples";
import { FIDELITY_FIXTURE, FIDELITY_SEEDS, FIDELITY_SETTINGS } from "../support/fidelityFixture";

const linux = process.platform === "linux";
const skip = (!linux && "the addon shim is preloaded on Linux only") || (!existsSync(resolve("dist", addonShimName())) && "the addon shim is not built (npm run build)");
const dir = tempDir();
const cacheDir = tempDir();
const stopCache = tempDir();

before(() => {
  const files: Record<string, string> = {};
  for (const name of ["a", "b", "c", "d"]) files[`${name}.ts`] = Array.from({ length: 40 }, (_, i) => `export const ${name}${i} = ${i * 7}; // ${name}\n`).join("");
  writeTree(dir.path, files);
});
after(() => {
  dir.dispose();
  cacheDir.dispose();
  stopCache.dispose();
});

const FORKS = { ASK_CODEBASE_FORKS: "on", ASK_CODEBASE_ADDON_SHIM_TRACE: "1", ASK_CODEBASE_DECODE_AHEAD: "on" };
const settings = (classify: "fused" | "separate" | "off", extra = {}) =>
  runSettings({ model: testModelPath("tiny"), segmentTokens: 256, marginTokens: 24, answerTokens: 32, classify, ...extra });
const ask1 = (classify: "fused" | "separate" | "off", env: NodeJS.ProcessEnv, extra = {}) =>
  questionInEngineProcess(dir.path, "What is c12?", settings(classify, extra), env);

/** The shim's last count of prefixes shared (it reports after each batch of shares). */
function shares(stderr: string): number {
  return Number([...stderr.matchAll(/shared prefixes (\d+)/g)].at(-1)?.[1] ?? 0);
}

const doneOf = (events: WimEvent[]) => events.find((e): e is Extract<WimEvent, { type: "done" }> => e.type === "done");
const segmentsOf = (events: WimEvent[]): number => events.find((e): e is Extract<WimEvent, { type: "run-started" }> => e.type === "run-started")?.segments ?? 0;

/** Each verdict's score by segment. */
const scores = (events: WimEvent[]): Map<number, number> =>
  new Map(events.flatMap((e) => (e.type === "margin-classified" ? [[e.segment, e.score] as [number, number]] : [])));
const relevant = (events: WimEvent[]): number[] =>
  events.flatMap((e) => (e.type === "margin-classified" && e.relevant ? [e.segment] : [])).sort((a, b) => a - b);

/** The same segments judged, each score within `tolerance` of the other run's. */
function sameScores(a: WimEvent[], b: WimEvent[], tolerance: number, what: string): void {
  const x = scores(a), y = scores(b);
  assert.deepEqual([...x.keys()].sort((p, q) => p - q), [...y.keys()].sort((p, q) => p - q), what);
  for (const [k, v] of x) assert.ok(Math.abs(v - y.get(k)!) <= tolerance, `${what}: segment ${k} scored ${v} against ${y.get(k)}`);
}

test("a cold reading writes its margins on the reader; a warm one on forks, one share per margin, each verdict scoring as the cold one did", { skip }, async () => {
  const cached = { cacheSizeMiB: 256, cacheDir: cacheDir.path };
  const first = await ask1("fused", FORKS, cached);
  const second = await ask1("fused", FORKS, cached);
  assert.ok(doneOf(first.events), first.stderr.slice(-800));
  assert.equal(shares(first.stderr), 0, "a cold reading shares nothing");
  const started = second.events.find((e): e is Extract<WimEvent, { type: "run-started" }> => e.type === "run-started");
  assert.ok(started && started.segments >= 4 && started.reusedSegments === started.segments, `reused ${started?.reusedSegments} of ${started?.segments}: ${second.stderr.slice(-600)}`);
  assert.ok(doneOf(second.events), second.stderr.slice(-800));
  assert.equal(second.events.filter((e) => e.type === "margin-done").length, started.segments);
  assert.ok(written(second.events).some((t) => t.startsWith("answer: ") && t.length > "answer: ".length));
  sameScores(second.events, first.events, 0.01, "warm");
  assert.equal(shares(second.stderr), started.segments, "one share per margin");
  // Margins at their cap (no verdict), four forks decoding side by side.
  const capped = await ask1("off", FORKS, cached);
  const cappedAgain = await ask1("off", FORKS, cached);
  const margins = cappedAgain.events.filter((e): e is Extract<WimEvent, { type: "margin-done" }> => e.type === "margin-done");
  assert.ok(doneOf(capped.events));
  assert.equal(margins.length, segmentsOf(cappedAgain.events));
  assert.ok(margins.every((m) => m.tokens === 24), JSON.stringify(margins.map((m) => m.tokens)));
  assert.equal(shares(cappedAgain.stderr), margins.length);
});

test("the task-trained model reads as well on forks as on the reader: the same segments judged relevant, the defining one among them, and the value named", { skip }, async () => {
  const task = makeTask({ seed: FIDELITY_SEEDS[0]!, chars: TRAINING_CHARS, hops: 1 });
  const root = tempDir();
  const cache = tempDir();
  try {
    writeTree(root.path, Object.fromEntries(task.files.map((f) => [f.path, f.text])));
    const read = (env: NodeJS.ProcessEnv) => questionInEngineProcess(root.path, task.question, runSettings({ model: FIDELITY_FIXTURE, ...FIDELITY_SETTINGS, cacheSizeMiB: 256, cacheDir: cache.path }), env);
    const cold = await read(FORKS);
    const forked = await read(FORKS);
    const plain = await read({ ASK_CODEBASE_FORKS: "off" });
    const defining = cold.events.find((e): e is Extract<WimEvent, { type: "margin-done" }> =>
      e.type === "margin-done" && e.sources.some((s) => s.path === task.definition.path && s.startLine <= task.definition.line && task.definition.line <= s.endLine));
    assert.ok(defining, "no margin covers the definition");
    assert.ok(shares(forked.stderr) >= 3, forked.stderr.slice(-600));
    assert.equal(shares(plain.stderr), 0);
    for (const run of [forked, plain]) assert.ok((run.events.find((e) => e.type === "run-started") as { reusedSegments: number }).reusedSegments >= 3);
    assert.deepEqual(relevant(forked.events), relevant(plain.events));
    assert.deepEqual(relevant(forked.events), relevant(cold.events));
    assert.ok(relevant(forked.events).includes(defining.segment), `relevant ${relevant(forked.events)}, defining ${defining.segment}`);
    sameScores(forked.events, plain.events, 0.02, "trained");
    for (const run of [cold, forked, plain]) {
      const done = doneOf(run.events)!;
      assert.ok(done.answer.includes(task.value), `${JSON.stringify(done.answer)} does not name ${task.value}`);
    }
  } finally {
    root.dispose();
    cache.dispose();
  }
});

test("without shared cells (the shim asked for less, or a separate classifier) a warm question's margins go on the reader, as before", { skip }, async () => {
  const cached = { cacheSizeMiB: 256, cacheDir: cacheDir.path };
  const noShare = await ask1("fused", { ...FORKS, ASK_CODEBASE_ADDON_SHIM: "nosync,greedy,pool" }, cached);
  const separate = await ask1("separate", FORKS, cached);
  for (const run of [noShare, separate]) {
    assert.ok(doneOf(run.events), run.stderr.slice(-800));
    assert.ok((run.events.find((e) => e.type === "run-started") as { reusedSegments: number }).reusedSegments >= 4);
    assert.equal(shares(run.stderr), 0);
    assert.ok(written(run.events).filter((t) => t.startsWith("margin ")).length >= 4);
  }
});

test("stopped or answered early while forks write a warm question's margins, the run ends cleanly and the next run in the same engine is whole", { skip }, async () => {
  const events: WimEvent[] = [];
  let stderr = "";
  const client = new EngineClient({ script: resolve("dist/engineHost.js"), env: { ...process.env, ...FORKS }, onEvent: (e) => events.push(e), onStderr: (t) => { stderr += t; } });
  const until = async (what: string, ok: () => boolean): Promise<void> => {
    for (const end = Date.now() + 120_000; !ok(); await sleep(5)) if (Date.now() > end) throw new Error(`${what} never came: ${stderr.slice(-600)}`);
  };
  const ended = (id: string) => events.find((e) => (e.type === "done" || e.type === "error") && e.runId === id);
  // Long margins, so that the control comes while the forks still write.
  const cached = settings("off", { cacheSizeMiB: 256, cacheDir: stopCache.path, marginTokens: 400 });
  try {
    await ask(client, "cold", [dir.path], "What is c12?", cached);
    await until("the end of the cold run", () => !!ended("cold"));
    const runs: [string, "answer-now" | "stop"][] = [["now", "answer-now"], ["stopped", "stop"]];
    for (const [id, control] of runs) {
      await ask(client, id, [dir.path], "What is c12?", cached);
      // The first margin's first token: forks are writing the warm margins.
      await until("a margin token", () => events.some((e) => e.type === "margin-token" && e.runId === id));
      client.control({ type: control, runId: id });
      await until(`the end of ${id}`, () => !!ended(id));
      const done = ended(id)!;
      assert.equal(done.type, "done", `${JSON.stringify(done)} ${stderr.slice(-400)}`);
      assert.equal((done as Extract<WimEvent, { type: "done" }>).stoppedBy, control === "stop" ? "aborted" : "answer-now");
    }
    assert.ok(shares(stderr) >= 2, stderr.slice(-600));
    await ask(client, "after", [dir.path], "What is c12?", cached);
    await until("the end of the run after", () => !!ended("after"));
    const whole = ended("after") as Extract<WimEvent, { type: "done" }>;
    assert.equal(whole.type, "done", `${JSON.stringify(whole)} ${stderr.split("\n").filter((l) => !/decoded ahead|greedy samples|shared prefixes/.test(l)).join("\n").slice(-3000)}`);
    assert.equal(whole.stoppedBy, "finished");
    assert.equal(whole.coverage.segments, whole.coverage.ofSegments);
    const margins = events.filter((e): e is Extract<WimEvent, { type: "margin-done" }> => e.type === "margin-done" && e.runId === "after");
    assert.equal(margins.length, whole.coverage.ofSegments, "every segment's margin, once");
    assert.ok(margins.every((m) => m.tokens === 400), JSON.stringify(margins.map((m) => m.tokens)));
  } finally {
    await client.dispose();
  }
});
