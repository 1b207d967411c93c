// The warm codebase cache on a real model: a second question loads the saved KV state instead of
// prefilling, writes the margins from the last segment backwards, and must give exactly what a cold
// run gives; an edit reuses the unchanged prefix; a damaged cache falls back to a cold read.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { appendFileSync, readdirSync, readFileSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { checksumStats, DiskStateCache } from "../../src/core/cache/stateCache";
import { planCodebase, type CodebasePlan } from "../../src/core/plan";
import type { WimEvent } from "../../src/core/wim/events";
import { WimSession, type WimOptions } from "../../src/core/wim/session";
import { openLlamaEngine, type LlamaEngine } from "../../src/engine/llama/llamaEngine";
import { tempDir, writeTree } from "../support/fixtures";
import { testModelPath } from "../support/models";
import { compareRuns, extractTokens, Referee, runRecord } from "../support/parting";

const FIRST = "Where is the retry delay computed?";
const SECOND = "Which function parses the HTTP status line?";
const dir = tempDir();
const cacheDir = join(dir.path, "kv");
let engine: LlamaEngine;
let referee: Referee;

function file(name: string, lines: number): string {
  let out = "";
  for (let i = 1; i <= lines; i++) out += `export function ${name}${i}(attempt: number) { return attempt * ${i} + 1; } // ${name} line ${i}\n`;
  return out;
}

before(async () => {
  writeTree(join(dir.path, "repo"), { "a/retry.ts": file("retry", 30), "b/http.ts": file("http", 30), "c/util.ts": file("util", 30), "d/last.ts": file("last", 30) });
  engine = await openLlamaEngine({ modelPath: testModelPath("tiny"), gpu: "cpu", threads: 1 });
  referee = await Referee.open(engine);
});
after(async () => {
  await referee.dispose();
  await engine.dispose();
  dir.dispose();
});

const plan = (): Promise<CodebasePlan> => planCodebase([join(dir.path, "repo")], { segmentTokens: 512, countTokens: (t) => engine.tokenizeText(t).length });

async function run(p: CodebasePlan, question: string, options: WimOptions = {}, scores?: number[]): Promise<{ events: WimEvent[]; session: WimSession }> {
  const session = new WimSession(engine, { segments: p.segments, files: p.files.length, ...(scores ? { scores } : {}) }, question, { marginTokens: 10, answerTokens: 12, trace: true, ...options });
  const events: WimEvent[] = [];
  for await (const e of session.run()) events.push(e);
  assert.deepEqual(events.filter((e) => e.type === "error"), []);
  return { events, session };
}

function of<T extends WimEvent["type"]>(events: WimEvent[], type: T): Extract<WimEvent, { type: T }>[] {
  return events.filter((e): e is Extract<WimEvent, { type: T }> => e.type === type);
}

/**
 * A warm run equals a cold one where the model is decided: the warm run's prompts go without the
 * segment tails a cold run sends with them, and kernels round by batch shape (support/parting.ts).
 */
async function assertSameRun(warm: { events: WimEvent[]; session: WimSession }, cold: { events: WimEvent[]; session: WimSession }, question: string, classify: "fused" | "separate" = "fused"): Promise<void> {
  await compareRuns(referee, runRecord(cold.events, cold.session.trace), runRecord(warm.events, warm.session.trace), extractTokens(engine, question, classify));
}

test("a second question on an unchanged codebase prefills nothing and equals a cold run, margin for margin", async () => {
  const p = await plan();
  assert.ok(p.segments.length >= 4, `${p.segments.length} segments`);
  const cache = new DiskStateCache(cacheDir, 1 << 30);
  const coldSecond = await run(p, SECOND);

  const first = await run(p, FIRST, { cache });
  assert.equal(of(first.events, "run-started")[0]!.reusedSegments, 0);
  const saved = of(first.events, "cache-saved")[0];
  assert.ok(saved && !saved.error && saved.bytes > 0, `saved: ${JSON.stringify(saved)}`);
  assert.equal(saved.segments, p.segments.length);
  assert.equal(first.events.at(-1)!.type, "cache-saved", "saved after the answer, never before it");

  const evaluatedBefore = engine.evaluatedTokens;
  const loadsBefore = engine.stateLoads;
  const hashedBefore = checksumStats.bytes;
  const second = await run(p, SECOND, { cache });
  const evaluated = engine.evaluatedTokens - evaluatedBefore;
  // The reader still held the codebase: the only load is the one after the backward margins, and
  // the file this process saved is not hashed again.
  assert.equal(engine.stateLoads - loadsBefore, 1, "loads");
  assert.equal(checksumStats.bytes - hashedBefore, 0, "bytes hashed");
  const started = of(second.events, "run-started")[0]!;
  assert.equal(started.reusedSegments, p.segments.length);
  assert.deepEqual(of(second.events, "margin-done").map((e) => e.segment), p.segments.map((_, i) => i).reverse(), "margins from the last segment backwards");
  await assertSameRun(second, coldSecond, SECOND);
  const done = of(second.events, "done")[0]!;
  assert.equal(done.tokens.prefilled, 0);
  assert.ok(evaluated < started.tokens / 2, `evaluated ${evaluated} tokens for a ${started.tokens}-token codebase`);
  assert.equal(of(second.events, "cache-saved").length, 0, "nothing new to save");
});

test("when the reader holds another codebase, the state is loaded; a state file touched since it was saved is hashed again", async () => {
  const p = await plan();
  const cache = new DiskStateCache(cacheDir, 1 << 30);
  const cold = await run(p, SECOND);
  await run(p, FIRST, { cache });
  // Another codebase in between, without the cache: the reader now holds that one.
  const other = await planCodebase([join(dir.path, "repo", "c")], { segmentTokens: 512, countTokens: (t) => engine.tokenizeText(t).length });
  await run(other, FIRST);
  const [state] = readdirSync(cacheDir).filter((n) => n.endsWith(".state"));
  const path = join(cacheDir, state!);
  const { atime, mtime } = statSync(path);
  utimesSync(path, atime, mtime);
  const loadsBefore = engine.stateLoads;
  const hashedBefore = checksumStats.bytes;
  const warm = await run(p, SECOND, { cache });
  assert.equal(of(warm.events, "run-started")[0]!.reusedSegments, p.segments.length);
  assert.equal(engine.stateLoads - loadsBefore, 2, "loaded to start, and again after the backward margins");
  assert.equal(checksumStats.bytes - hashedBefore, statSync(path).size, "hashed once: its ctime changed, so this process's earlier hash no longer vouches for it");
  await assertSameRun(warm, cold, SECOND);
});

test("after an edit to the last file, the unchanged segments are reused and the run still equals a cold one", async () => {
  const cache = new DiskStateCache(cacheDir, 1 << 30);
  const before = await plan();
  await run(before, FIRST, { cache });
  appendFileSync(join(dir.path, "repo", "d/last.ts"), "export const edited = true; // one more line\n");
  const p = await plan();
  const firstChanged = p.segments.findIndex((s, i) => s.text !== before.segments[i]?.text);
  assert.ok(firstChanged > 0, `the edit changes segment ${firstChanged} on`);
  const cold = await run(p, SECOND);
  const warm = await run(p, SECOND, { cache });
  const started = of(warm.events, "run-started")[0]!;
  assert.equal(started.reusedSegments, firstChanged);
  await assertSameRun(warm, cold, SECOND);
  const changedTokens = p.segments.slice(firstChanged).reduce((n, s) => n + s.tokens, 0);
  assert.equal(of(warm.events, "done")[0]!.tokens.prefilled, changedTokens, "only the changed segments are prefilled");
  assert.equal(of(warm.events, "cache-saved")[0]?.segments, p.segments.length, "the edited codebase is cached in turn");
});

test("a damaged cache file means a cold read with the same result, said, never a crash", async () => {
  const cache = new DiskStateCache(cacheDir, 1 << 30);
  const p = await plan();
  const cold = await run(p, SECOND);
  await run(p, FIRST, { cache });
  // Cut inside the KV data, then inside the header; each warm attempt's cold read saves a whole file again.
  for (const cut of [(n: number) => Math.floor(n * 0.6), () => 1000]) {
    for (const f of readdirSync(cacheDir).filter((n) => n.endsWith(".state"))) {
      const path = join(cacheDir, f);
      const whole = readFileSync(path);
      writeFileSync(path, whole.subarray(0, cut(whole.length)));
    }
    const r = await run(p, SECOND, { cache });
    assert.equal(of(r.events, "run-started")[0]!.reusedSegments, 0);
    assert.match(of(r.events, "run-started")[0]!.cacheNote ?? "", /saved state file changed size \([\d,]+ bytes, saved as [\d,]+\): it was dropped, and the codebase is read again/, "the user is told why it starts cold");
    await assertSameRun(r, cold, SECOND);
    assert.ok(of(r.events, "cache-saved")[0]!.bytes > 0, "the cold read is cached again");
  }
});

test("answer now during the backward pass answers from the margins written so far", async () => {
  const cache = new DiskStateCache(cacheDir, 1 << 30);
  const p = await plan();
  await run(p, FIRST, { cache, classify: "off" });
  const last = p.segments.length - 1;
  const session = new WimSession(engine, { segments: p.segments, files: p.files.length }, SECOND, { marginTokens: 10, answerTokens: 12, cache, classify: "off" });
  const events: WimEvent[] = [];
  for await (const e of session.run()) {
    events.push(e);
    if (e.type === "margin-done" && e.segment === last - 1) session.answerNow();
  }
  assert.equal(of(events, "done")[0]!.stoppedBy, "answer-now");
  assert.deepEqual(of(events, "answer-started")[0]!.marginIds, [last - 1, last]);
});

test("when the answer erased the codebase's end to make room, the cache still saves the whole codebase", async () => {
  const p = await plan();
  const cache = new DiskStateCache(join(dir.path, "kv-cut"), 1 << 30);
  const total = p.segments.reduce((n, s) => n + s.tokens, 0);
  // One window, with barely more room than the codebase and one margin: every margin is kept
  // (judge), and the answer can only fit by erasing the end of the codebase.
  const tight: WimOptions = { cache, classify: "separate", judge: () => true, contextTokens: total + 260 };
  const first = await run(p, FIRST, tight);
  assert.equal(of(first.events, "run-started")[0]!.windows, 1);
  const answer = of(first.events, "answer-started")[0]!;
  assert.ok(answer.codebaseCut && answer.codebaseCut.kept < p.segments.length, `the answer cut the codebase: ${JSON.stringify(answer.codebaseCut)}`);
  assert.equal(of(first.events, "cache-saved")[0]?.segments, p.segments.length, "saved with every segment");
  const second = await run(p, SECOND, tight);
  assert.equal(of(second.events, "run-started")[0]!.reusedSegments, p.segments.length);
  // The re-read segments are exact: the second answer equals a cold run's.
  await assertSameRun(second, await run(p, SECOND, { ...tight, cache: undefined }), SECOND, "separate");
});

/** A cache that notes the size each save announces. */
class NotingCache extends DiskStateCache {
  readonly announced: (number | undefined)[] = [];
  override store(...args: Parameters<DiskStateCache["store"]>): ReturnType<DiskStateCache["store"]> {
    this.announced.push(args[3]?.expectedBytes);
    return super.store(...args);
  }
}

test("a save says its size before writing, a little over what it writes; with no room on the disk it is refused and the answer stands", async () => {
  const p = await plan();
  const noting = new NotingCache(join(dir.path, "kv-room"), 1 << 30);
  const first = await run(p, FIRST, { cache: noting });
  const saved = of(first.events, "cache-saved")[0]!;
  assert.ok(!saved.error && saved.bytes > 0, JSON.stringify(saved));
  const [announced] = noting.announced;
  assert.equal(noting.announced.length, 1);
  assert.ok(announced! >= saved.bytes && announced! <= saved.bytes * 1.1 + 8192, `announced ${announced} bytes, wrote ${saved.bytes}`);

  // A disk whose free space is all the cache may not use: the save is refused before it writes.
  const folder = join(dir.path, "kv-full");
  const full = new DiskStateCache(folder, 1 << 30, Number.MAX_SAFE_INTEGER / 2);
  const r = await run(p, FIRST, { cache: full });
  const refused = of(r.events, "cache-saved")[0]!;
  assert.match(refused.error ?? "", /^the disk holding .*kv-full has [\d.]+ [MG]iB free and the state takes about [\d.]+ MiB; the cache leaves/);
  assert.equal(refused.bytes, 0);
  assert.ok(of(r.events, "done")[0]!.answer, "the answer is given all the same");
  assert.deepEqual(readdirSync(folder).filter((f) => !f.endsWith(".json")), [], "no state written");
});

/** A context that takes the plan's codebase in two windows or more. */
function twoWindows(p: CodebasePlan): number {
  return Math.ceil(p.segments.reduce((n, s) => n + s.tokens, 0) / 2) + 200;
}

/** A question longer than FIRST by dozens of tokens: the windows' edges must not move with it. */
const LONGER = `${SECOND} Say which file defines it, which functions call it, and what it returns for a status line of HTTP/1.1 200 OK.`;

test("a codebase of several windows is cached window by window: a second, longer question prefills nothing and equals a cold run", async () => {
  const p = await plan();
  const contextTokens = twoWindows(p);
  assert.ok(engine.tokenizeText(LONGER).length >= engine.tokenizeText(FIRST).length + 20);
  const cache = new DiskStateCache(join(dir.path, "kv-windows"), 1 << 30);
  const cold = await run(p, LONGER, { contextTokens });
  const first = await run(p, FIRST, { cache, contextTokens });
  const windows = of(first.events, "run-started")[0]!.windows;
  assert.ok(windows >= 2, `${windows} windows`);
  // Each window saved as the next begins (its checksum made while the next is read), the last after the answer.
  const saved = of(first.events, "cache-saved");
  assert.equal(saved.length, windows, JSON.stringify(saved));
  assert.ok(saved.every((e) => !e.error && e.bytes > 0), JSON.stringify(saved));
  const starts = [0, ...of(first.events, "window-started").map((w) => w.firstSegment), p.segments.length];
  assert.deepEqual(saved.map((e) => e.segments), starts.slice(1).map((end, i) => end - starts[i]!), "each window whole, in reading order");
  assert.equal(first.events.at(-1)!.type, "cache-saved", "the last window after the answer");
  assert.equal((await cache.stats()).entries, windows);

  const loadsBefore = engine.stateLoads;
  const second = await run(p, LONGER, { cache, contextTokens });
  const started = of(second.events, "run-started")[0]!;
  assert.equal(started.reusedSegments, p.segments.length);
  assert.equal(of(second.events, "done")[0]!.tokens.prefilled, 0, "nothing prefilled");
  assert.equal(engine.stateLoads - loadsBefore, windows + 1, "each window loaded once, the last again for the answer");
  assert.equal(of(second.events, "cache-saved").length, 0, "nothing new to save");
  await assertSameRun(second, cold, LONGER);
});

test("windows read likeliest first are the same windows whatever the question: one that puts the last window first reuses them all", async () => {
  const p = await plan();
  const contextTokens = twoWindows(p);
  const cache = new DiskStateCache(join(dir.path, "kv-windows"), 1 << 30);
  await run(p, FIRST, { cache, contextTokens });
  // The question's likeliest file is the codebase's last.
  const scores = p.segments.map((_, i) => (i === p.segments.length - 1 ? 5 : 0));
  const cold = await run(p, SECOND, { contextTokens }, scores);
  const warm = await run(p, SECOND, { cache, contextTokens }, scores);
  for (const r of [cold, warm]) {
    const firstMargin = of(r.events, "margin-done")[0]!;
    assert.ok(firstMargin.sources.some((s) => s.path === "d/last.ts"), `the window holding the likeliest file is read first: ${JSON.stringify(firstMargin.sources)}`);
  }
  assert.equal(of(warm.events, "run-started")[0]!.reusedSegments, p.segments.length);
  assert.equal(of(warm.events, "done")[0]!.tokens.prefilled, 0);
  await assertSameRun(warm, cold, SECOND);
});

test("a codebase whose windows would not all fit in the cache is not cached, and the run says why", async () => {
  const p = await plan();
  const contextTokens = twoWindows(p);
  const folder = join(dir.path, "kv-small");
  // Room for about one window's state: saving each would evict the one before, at every question.
  const probe = await run(p, FIRST, { cache: new DiskStateCache(join(dir.path, "kv-probe"), 1 << 30), contextTokens });
  const oneWindow = Math.max(...of(probe.events, "cache-saved").map((e) => e.bytes));
  const cache = new DiskStateCache(folder, Math.ceil(oneWindow * 1.2));
  const r = await run(p, FIRST, { cache, contextTokens });
  const said = of(r.events, "cache-saved");
  assert.equal(said.length, 1, JSON.stringify(said));
  assert.match(said[0]!.error ?? "", /^its \d windows would take about [\d.]+ [KMG]iB, more than the cache's [\d.]+ [KMG]iB: a larger cache keeps it$/);
  assert.ok(of(r.events, "done")[0]!.answer, "the answer is given all the same");
  assert.equal((await cache.stats()).entries, 0, "nothing saved");
});
