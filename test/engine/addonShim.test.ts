// The addon shim (src/engine/backend/addonShim.c) in the engine's real process, as the extension
// starts it: preloaded, it gives the context a lasting thread pool and hands greedy samples their
// argmax alone, and every margin, verdict and the answer are what they are without it.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { WimEvent } from "../../src/core/wim/events";
import { addonShimName } from "../../src/shared/addonShim";
import { questionInEngineProcess, runSettings, written } from "../support/engineRuns";
import { tempDir, writeTree } from "../support/fixtures";
import { testModelPath } from "../support/models";

const linux = process.platform === "linux";
const dir = tempDir();
const instrument = tempDir();
const counter = join(instrument.path, "count.so");

before(() => {
  if (linux) execFileSync("cc", ["-shared", "-fPIC", "-O2", "-o", counter, resolve("test/support/countGgmlThreads.c"), "-ldl", "-lpthread"]);
  const files: Record<string, string> = {};
  for (const name of ["a", "b"]) files[`${name}.ts`] = Array.from({ length: 40 }, (_, i) => `export const ${name}${i} = ${i * 3}; // ${name}\n`).join("");
  writeTree(dir.path, files);
});
after(() => {
  dir.dispose();
  instrument.dispose();
});

/**
 * One question in a fresh engine process with `env` added: its events, what it wrote on stderr, and
 * how many threads ggml's CPU backend started in it (test/support/countGgmlThreads.c).
 */
async function question(env: Record<string, string>): Promise<{ events: WimEvent[]; stderr: string; ggmlThreads: number }> {
  const count = join(instrument.path, `threads-${env.ASK_CODEBASE_ADDON_SHIM}`);
  // Two threads: a pool with a worker in it, which one thread would not have.
  const settings = runSettings({ model: testModelPath("tiny"), threads: 2, segmentTokens: 256, marginTokens: 24, answerTokens: 24, classify: "separate" });
  const { events, stderr, pid } = await questionInEngineProcess(dir.path, "What is b7?", settings, { ...env, LD_PRELOAD: counter, COUNT_GGML_THREADS: count });
  const file = `${count}.${pid}`;
  return { events, stderr, ggmlThreads: existsSync(file) ? Number(readFileSync(file, "utf8")) : 0 };
}

const started = (events: WimEvent[]) => events.find((e): e is Extract<WimEvent, { type: "run-started" }> => e.type === "run-started");

test("the build compiles the addon shim beside the engine's script", { skip: !linux && "LD_PRELOAD is Linux's" }, () => {
  assert.ok(existsSync(resolve("dist", addonShimName())), `dist/${addonShimName()} (npm run build compiles it with cc)`);
});

test("with the shim the engine's context computes on a lasting thread pool, and writes every margin and the answer as it does without", { skip: !linux && "LD_PRELOAD is Linux's" }, async () => {
  const shimmed = await question({ ASK_CODEBASE_ADDON_SHIM: "on", ASK_CODEBASE_ADDON_SHIM_TRACE: "1" });
  const plain = await question({ ASK_CODEBASE_ADDON_SHIM: "off", ASK_CODEBASE_ADDON_SHIM_TRACE: "1" });
  const syncOnly = await question({ ASK_CODEBASE_ADDON_SHIM: "nosync,greedy", ASK_CODEBASE_ADDON_SHIM_TRACE: "1" });
  assert.equal(shimmed.events.at(-1)?.type, "done", shimmed.stderr.slice(-500));
  assert.equal(started(shimmed.events)?.addonShim, true);
  assert.equal(started(plain.events)?.addonShim, false);
  assert.match(shimmed.stderr, /addon shim: a thread pool of 2, polling off\n[^]*addon shim: attached to a context \(threads 2, batches 2\)/);
  assert.doesNotMatch(plain.stderr, /addon shim/);
  // Without the pool ggml starts a worker for every graph (each decoded token is one); with it, the
  // pool's one worker and the one before it was attached (the context's first decode).
  assert.ok(plain.ggmlThreads >= 40, `without the shim: ${plain.ggmlThreads} threads started`);
  assert.ok(shimmed.ggmlThreads >= 1 && shimmed.ggmlThreads <= 3, `with the shim: ${shimmed.ggmlThreads} threads started`);
  const texts = written(shimmed.events);
  assert.ok(texts.length >= 3 && texts.some((t) => t.startsWith("answer: ")) && texts.some((t) => t.startsWith("verdict ")), JSON.stringify(texts));
  assert.deepEqual(texts, written(plain.events));
  // The mode the engine runs many-core machines in: the shim loaded, no pool.
  assert.equal(started(syncOnly.events)?.addonShim, true);
  assert.doesNotMatch(syncOnly.stderr, /thread pool/);
  assert.ok(syncOnly.ggmlThreads >= 40, `without the pool: ${syncOnly.ggmlThreads} threads started`);
  assert.deepEqual(written(syncOnly.events), texts);
});

test("greedy samples read the argmax alone, and a sampler that is not greedy gets the whole vocabulary back", { skip: !linux && "LD_PRELOAD is Linux's" }, async () => {
  const greedy = await question({ ASK_CODEBASE_ADDON_SHIM: "greedy", ASK_CODEBASE_ADDON_SHIM_TRACE: "1" });
  const plain = await question({ ASK_CODEBASE_ADDON_SHIM: "off" });
  assert.equal(greedy.events.at(-1)?.type, "done", greedy.stderr.slice(-500));
  // Margins and the answer are greedy; the separate classifier's verdicts (probabilities, on the
  // same context) come between them, each after a greedy sample: each must be widened back.
  // Reported at each widening, counts so far: the last report.
  const trace = [...greedy.stderr.matchAll(/greedy samples read alone (\d+), widened back (\d+)/g)].at(-1);
  assert.ok(trace, greedy.stderr.slice(-500));
  assert.ok(Number(trace[1]) >= 20, `read alone: ${trace[1]}`);
  assert.ok(Number(trace[2]) >= 1, `widened back: ${trace[2]}`);
  assert.doesNotMatch(greedy.stderr, /thread pool/);
  assert.deepEqual(written(greedy.events), written(plain.events));
});

test("the shim's timeline reports every decode and output read of the addon's, and nothing without it", { skip: !linux && "LD_PRELOAD is Linux's" }, async () => {
  const traced = await question({ ASK_CODEBASE_ADDON_SHIM: "on", ASK_CODEBASE_ADDON_SHIM_TRACE: "timeline" });
  const quiet = await question({ ASK_CODEBASE_ADDON_SHIM: "on", ASK_CODEBASE_ADDON_SHIM_TRACE: "1" });
  const done = traced.events.at(-1);
  assert.equal(done?.type, "done", traced.stderr.slice(-500));
  if (done?.type !== "done") return;
  const calls = [...traced.stderr.matchAll(/addon shim timeline: ([\d.]+) (decode|read) (\d+) (\d+) ([\d.]+)/g)].map((m) => ({ what: m[2], tokens: Number(m[3]), outputs: Number(m[4]), ms: Number(m[5]) }));
  const decodes = calls.filter((c) => c.what === "decode");
  const reads = calls.filter((c) => c.what === "read");
  // Every token read or written passed through a decode: the codebase, prompts, margins, verdicts, the answer.
  const decoded = decodes.reduce((n, c) => n + c.tokens, 0);
  assert.ok(decoded >= done.tokens.prefilled + done.tokens.margins + done.tokens.answer, `decoded ${decoded}, run ${JSON.stringify(done.tokens)}`);
  assert.ok(decodes.every((c) => c.tokens > 0 && c.outputs <= c.tokens && c.ms >= 0));
  // Each generated token and each verdict is sampled from a decode's outputs, each sample a read.
  assert.ok(reads.length >= done.tokens.margins + done.tokens.answer, `reads ${reads.length}`);
  assert.ok(decodes.filter((c) => c.outputs > 0).length >= done.tokens.margins + done.tokens.answer);
  assert.doesNotMatch(quiet.stderr, /timeline/);
  assert.deepEqual(written(traced.events), written(quiet.events));
});
