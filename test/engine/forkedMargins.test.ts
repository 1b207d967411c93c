// Margins written on forks of the reader (src/core/wim/forkedMargins.ts) in the engine's real
// process, with the addon shim's shared cells (src/engine/backend/sharedCells.c). Forced on here,
// on the CPU, where the engine would leave them off (ASK_CODEBASE_FORKS=on). A fork's tokens ride
// in batches of other shapes than on the reader, and the CPU's kernels round by batch shape, so a
// random-weight model's greedy text (which follows the last bit) is not compared: its verdicts'
// scores are, closely, and the task-trained model must read as well on forks as on the reader,
// judging the same segments relevant and naming the same value. The shim counts each share, so
// the forks really hold the reader's cells; a stop or a cancel mid-reading still ends the run
// cleanly, with the engine ready for the next one.
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

before(() => {
  const files: Record<string, string> = {};
  for (const name of ["a", "b", "c", "d"]) files[`${name}.ts`] = Array.from({ length: 40 }, (_, i) => `export const ${name}${i} = ${i * 7}; // ${name}\n`).join("");
  writeTree(dir.path, files);
});
after(() => {
  dir.dispose();
  cacheDir.dispose();
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

test("on forks, every segment gets its margin and a verdict that scores as on the reader, each from a fork holding the reader's cells", { skip }, async () => {
  const forked = await ask1("fused", FORKS);
  const plain = await ask1("fused", { ASK_CODEBASE_FORKS: "off", ASK_CODEBASE_ADDON_SHIM_TRACE: "1" });
  assert.equal(forked.events.at(-1)?.type, "done", forked.stderr.slice(-800));
  const segments = segmentsOf(forked.events);
  assert.ok(segments >= 4, `${segments} segments`);
  assert.equal(forked.events.filter((e) => e.type === "margin-done").length, segments);
  assert.ok(written(forked.events).some((t) => t.startsWith("answer: ") && t.length > "answer: ".length));
  sameScores(forked.events, plain.events, 0.01, "fused");
  assert.equal(shares(forked.stderr), segments, "one share per margin");
  assert.equal(shares(plain.stderr), 0, "without forks, nothing is shared");
  // Margins at their cap (no verdict): each fork decodes its margin's tokens beside the reader.
  const capped = await ask1("off", FORKS);
  assert.equal(capped.events.at(-1)?.type, "done", capped.stderr.slice(-800));
  const margins = capped.events.filter((e): e is Extract<WimEvent, { type: "margin-done" }> => e.type === "margin-done");
  assert.equal(margins.length, segmentsOf(capped.events));
  assert.ok(margins.every((m) => m.tokens === 24), JSON.stringify(margins.map((m) => m.tokens)));
});

test("the task-trained model reads as well on forks as on the reader: the same segments judged relevant, the defining one among them, and the value named", { skip }, async () => {
  const task = makeTask({ seed: FIDELITY_SEEDS[0]!, chars: TRAINING_CHARS, hops: 1 });
  const root = tempDir();
  try {
    writeTree(root.path, Object.fromEntries(task.files.map((f) => [f.path, f.text])));
    const read = (env: NodeJS.ProcessEnv) => questionInEngineProcess(root.path, task.question, runSettings({ model: FIDELITY_FIXTURE, ...FIDELITY_SETTINGS }), env);
    const forked = await read(FORKS);
    const plain = await read({ ASK_CODEBASE_FORKS: "off" });
    const defining = forked.events.find((e): e is Extract<WimEvent, { type: "margin-done" }> =>
      e.type === "margin-done" && e.sources.some((s) => s.path === task.definition.path && s.startLine <= task.definition.line && task.definition.line <= s.endLine));
    assert.ok(defining, "no margin covers the definition");
    assert.ok(shares(forked.stderr) >= 3, forked.stderr.slice(-600));
    assert.deepEqual(relevant(forked.events), relevant(plain.events));
    assert.ok(relevant(forked.events).includes(defining.segment), `relevant ${relevant(forked.events)}, defining ${defining.segment}`);
    sameScores(forked.events, plain.events, 0.02, "trained");
    for (const run of [forked, plain]) {
      const done = run.events.at(-1) as Extract<WimEvent, { type: "done" }>;
      assert.ok(done.answer.includes(task.value), `${JSON.stringify(done.answer)} does not name ${task.value}`);
    }
  } finally {
    root.dispose();
  }
});

test("without shared cells (the shim asked for less, or a separate classifier) margins go on the reader, as before", { skip }, async () => {
  const noShare = await ask1("fused", { ...FORKS, ASK_CODEBASE_ADDON_SHIM: "nosync,greedy,pool" });
  const separate = await ask1("separate", FORKS);
  for (const run of [noShare, separate]) {
    assert.equal(run.events.at(-1)?.type, "done", run.stderr.slice(-800));
    assert.equal(shares(run.stderr), 0);
    assert.ok(written(run.events).filter((t) => t.startsWith("margin ")).length >= 4);
  }
});

test("a warm second question writes its margins on forks of the cached codebase, scoring as the first did", { skip }, async () => {
  const cached = { cacheSizeMiB: 256, cacheDir: cacheDir.path };
  const first = await ask1("fused", FORKS, cached);
  const second = await ask1("fused", FORKS, cached);
  const started = second.events.find((e): e is Extract<WimEvent, { type: "run-started" }> => e.type === "run-started");
  assert.ok(started && started.reusedSegments === started.segments, `reused ${started?.reusedSegments} of ${started?.segments}: ${second.stderr.slice(-600)}`);
  assert.equal(second.events.filter((e) => e.type === "margin-done").length, started.segments);
  sameScores(second.events, first.events, 0.01, "warm");
  assert.equal(shares(second.stderr), started.segments);
  assert.equal(second.events.at(-1)?.type, "done");
});

test("stopped or cancelled while forks write margins, the run ends cleanly and the next run in the same engine is whole", { skip }, async () => {
  const events: WimEvent[] = [];
  let stderr = "";
  const client = new EngineClient({ script: resolve("dist/engineHost.js"), env: { ...process.env, ...FORKS }, onEvent: (e) => events.push(e), onStderr: (t) => { stderr += t; } });
  const until = async (what: string, ok: () => boolean): Promise<void> => {
    for (const end = Date.now() + 120_000; !ok(); await sleep(5)) if (Date.now() > end) throw new Error(`${what} never came: ${stderr.slice(-600)}`);
  };
  const ended = (id: string) => events.find((e) => (e.type === "done" || e.type === "error") && e.runId === id);
  try {
    const runs: [string, "answer-now" | "stop"][] = [["now", "answer-now"], ["stopped", "stop"]];
    for (const [id, control] of runs) {
      await ask(client, id, [dir.path], "What is c12?", settings("off"));
      // The first margin's first token: a fork is writing while the reader reads on.
      await until("a margin token", () => events.some((e) => e.type === "margin-token" && e.runId === id));
      client.control({ type: control, runId: id });
      await until(`the end of ${id}`, () => !!ended(id));
      const done = ended(id)!;
      assert.equal(done.type, "done", JSON.stringify(done));
      assert.equal((done as Extract<WimEvent, { type: "done" }>).stoppedBy, control === "stop" ? "aborted" : "answer-now");
    }
    await ask(client, "after", [dir.path], "What is c12?", settings("off"));
    await until("the end of the run after", () => !!ended("after"));
    const whole = ended("after") as Extract<WimEvent, { type: "done" }>;
    assert.equal(whole.type, "done");
    assert.equal(whole.stoppedBy, "finished");
    assert.equal(whole.coverage.segments, whole.coverage.ofSegments);
    const margins = events.filter((e) => e.type === "margin-done" && e.runId === "after");
    assert.equal(margins.length, whole.coverage.ofSegments, "every segment's margin, once");
  } finally {
    await client.dispose();
  }
});
