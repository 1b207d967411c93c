// Decoding ahead (src/engine/backend/decodeAhead.c) in the engine's real process: each generated
// token's decode is queued by the shim as soon as the token is sampled, and the addon's own decode
// of it then finds it done. Forced on here, on the CPU, where the engine would leave it off: what
// it must show on any backend is that no margin, verdict or answer changes, and that the decodes
// ahead are taken, and removed where nobody asks for them.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import type { WimEvent } from "../../src/core/wim/events";
import { addonShimName } from "../../src/shared/addonShim";
import { questionInEngineProcess, runSettings, written } from "../support/engineRuns";
import { tempDir, writeTree } from "../support/fixtures";
import { testModelPath } from "../support/models";

const linux = process.platform === "linux";
const skip = !linux && "the addon shim is preloaded on Linux only";
const dir = tempDir();

before(() => {
  const files: Record<string, string> = {};
  for (const name of ["a", "b", "c"]) files[`${name}.ts`] = Array.from({ length: 40 }, (_, i) => `export const ${name}${i} = ${i * 7}; // ${name}\n`).join("");
  writeTree(dir.path, files);
});
after(() => dir.dispose());

const ask = (classify: "fused" | "separate" | "off", env: NodeJS.ProcessEnv) =>
  questionInEngineProcess(dir.path, "What is c12?", runSettings({ model: testModelPath("tiny"), segmentTokens: 256, marginTokens: 24, answerTokens: 32, classify }), { ASK_CODEBASE_ADDON_SHIM_TRACE: "1", ...env });

/** The shim's last count of decodes ahead taken and removed (it reports at each removal). */
function counts(stderr: string): { taken: number; removed: number } | undefined {
  const last = [...stderr.matchAll(/decoded ahead and taken (\d+), removed (\d+)/g)].at(-1);
  return last ? { taken: Number(last[1]), removed: Number(last[2]) } : undefined;
}

const ended = (events: WimEvent[]) => events.at(-1)?.type;

test("decoded ahead, every margin, verdict and the answer are what they are without, and the decodes ahead are taken", { skip }, async () => {
  // Without verdicts every segment gets a margin of its full length; with the fused verdict, each
  // segment's verdict reads probabilities on the same context between greedy generations; the
  // separate classifier reads on a second sequence, its verdicts riding in the reader's batches.
  for (const classify of ["off", "fused", "separate"] as const) {
    const ahead = await ask(classify, { ASK_CODEBASE_DECODE_AHEAD: "on" });
    const plain = await ask(classify, { ASK_CODEBASE_DECODE_AHEAD: "off" });
    assert.equal(ended(ahead.events), "done", ahead.stderr.slice(-800));
    const texts = written(ahead.events);
    assert.ok(texts.some((t) => t.startsWith("answer: ")), JSON.stringify(texts));
    assert.deepEqual(texts, written(plain.events), classify);
    assert.equal(counts(plain.stderr), undefined, "with it off, nothing is decoded ahead");
    const seen = counts(ahead.stderr);
    assert.ok(seen, `${classify}: no decode ahead was reported: ${ahead.stderr.slice(-800)}`);
    // Each generation decodes all but its first two tokens ahead (the first follows its prompt, the
    // second's is the first queued ahead), and its last one is removed unasked, as it is erased.
    const margins = texts.filter((t) => t.startsWith("margin ") && t.length > "margin 0: ".length).length;
    if (classify === "off") assert.ok(margins >= 5 && seen.taken >= margins * 10, `${margins} margins, taken ${seen.taken}`);
    else assert.ok(seen.taken >= 10, `${classify}: taken ${seen.taken}`);
    assert.ok(seen.removed >= 1 && seen.removed <= margins + 1, `${margins} margins, removed ${seen.removed}`);
  }
});

test("the engine leaves decoding ahead off on the CPU", { skip }, async () => {
  const byDefault = await ask("fused", {});
  assert.equal(ended(byDefault.events), "done", byDefault.stderr.slice(-800));
  assert.ok(written(byDefault.events).some((t) => t.startsWith("answer: ")));
  assert.equal(counts(byDefault.stderr), undefined, "the CPU backend decoded ahead");
});

test("a decode ahead survives what node-llama-cpp's evaluation never does: outputs read again, a different token, an erase", { skip }, async () => {
  const probe = (ahead: "on" | "off") => {
    const run = spawnSync(process.execPath, ["--import", "tsx", "test/support/aheadProbe.ts", testModelPath("tiny")], {
      encoding: "utf8",
      env: { ...process.env, LD_PRELOAD: resolve("dist", addonShimName()), ASK_CODEBASE_ADDON_SHIM_AHEAD: ahead, ASK_CODEBASE_ADDON_SHIM_TRACE: "1" },
    });
    assert.equal(run.status, 0, run.stderr.slice(-800));
    return { seen: JSON.parse(run.stdout.trim().split("\n").at(-1)!) as Record<string, unknown>, stderr: run.stderr };
  };
  const ahead = probe("on");
  const plain = probe("off");
  assert.deepEqual(ahead.seen, plain.seen);
  const n = plain.seen.prompt as number;
  assert.equal(plain.seen.endAfterAhead, n);
  assert.equal(plain.seen.endAfterErase, n + 1);
  assert.equal((plain.seen.verdictWhileAhead as number[]).length, 10);
  assert.equal(counts(plain.stderr), undefined);
  // Taken once (g5's); removed by the memory read, the verdict, the other token and the erase;
  // the outputs restored for each verdict.
  const last = [...ahead.stderr.matchAll(/decoded ahead and taken (\d+), removed (\d+), outputs restored (\d+)/g)].at(-1);
  assert.deepEqual(last?.slice(1).map(Number), [1, 4, 2], ahead.stderr.slice(-800));
});
