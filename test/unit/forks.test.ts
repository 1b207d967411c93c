// Where margins go on forks of the reader (engine/llama/forks.ts), what the shim's mode must ask for,
// and how a batch is shared while a fork decodes (shareBatch's cap, engine/llama/llamaSequence.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import type { BatchItem } from "node-llama-cpp";
import { forkBatchSize, forksWanted, withSharedCells } from "../../src/engine/llama/forks";
import { shareBatch } from "../../src/engine/llama/llamaSequence";
import { shimWants } from "../../src/shared/addonShim";
import { forksFor } from "../../src/core/wim/forkedMargins";

const item = (tokens: number): BatchItem => ({ tokens: new Array(tokens).fill(1), logits: [] }) as unknown as BatchItem;
const shares = (items: BatchItem[], size: number, cap?: number): number[] => shareBatch(items, size, undefined, cap).map((p) => p.processAmount);

test("forks only with the whole model on a GPU, unless the setting says otherwise", () => {
  assert.equal(forksWanted({}, "cpu", 0, 25), false, "on the CPU a small batch for the margin costs the reader more than the margin gains");
  assert.equal(forksWanted({}, "cuda", 25, 25), true);
  assert.equal(forksWanted({}, "vulkan", 25, 25), true);
  assert.equal(forksWanted({}, "cuda", 24, 25), false);
  assert.equal(forksWanted({ ASK_CODEBASE_FORKS: "off" }, "cuda", 25, 25), false);
  assert.equal(forksWanted({ ASK_CODEBASE_FORKS: "on" }, "cpu", 0, 25), true);
});

test("a run gets forks only where the engine shares cells, with one window, and no separate classifier", () => {
  const sharing = { model: "m", backend: "cuda", gpuNames: [], gpuLayers: 1, totalLayers: 1, trainContextSize: 1, sharesCells: true };
  assert.equal(forksFor(sharing, "fused", 1), 2);
  assert.equal(forksFor(sharing, "off", 1, 1), 1);
  assert.equal(forksFor(sharing, "separate", 1), 0, "the classifier takes the second sequence");
  assert.equal(forksFor(sharing, "fused", 2), 0, "a window's end erases the codebase a fork would read");
  assert.equal(forksFor({ ...sharing, sharesCells: undefined }, "fused", 1), 0);
  assert.equal(forksFor(sharing, "fused", 1, 0), 0);
});

test("the shim's mode asks for shared cells by name, or by asking for everything", () => {
  assert.equal(shimWants("share", {}), true);
  assert.equal(shimWants("share", { ASK_CODEBASE_ADDON_SHIM: "on" }), true);
  assert.equal(shimWants("share", { ASK_CODEBASE_ADDON_SHIM: "nosync,greedy,share" }), true);
  assert.equal(shimWants("share", { ASK_CODEBASE_ADDON_SHIM: "nosync,greedy" }), false);
  assert.equal(shimWants("share", { ASK_CODEBASE_ADDON_SHIM: "sharex" }), false);
});

test("while a fork decodes, a batch carries its token and at most the cap's worth of the reader's prefill", () => {
  assert.deepEqual(shares([item(2048), item(1)], 2048), [2047, 1], "without a cap, the reader fills the batch");
  assert.deepEqual(shares([item(2048), item(1)], 2048, 256), [255, 1]);
  assert.deepEqual(shares([item(1), item(2048)], 2048, 256), [1, 255]);
  assert.deepEqual(shares([item(2048), item(92)], 2048, 256), [164, 92], "a fork's prompt goes whole beside the reader");
  assert.deepEqual(shares([item(2048), item(1), item(1)], 2048, 256), [254, 1, 1], "two forks, a token each");
  assert.deepEqual(shares([item(2048)], 2048, 256), [256], "the reader alone between a fork's tokens: still capped");
  assert.equal(forkBatchSize({}, true), 256);
  assert.equal(forkBatchSize({}, false), 64);
  assert.equal(forkBatchSize({ ASK_CODEBASE_FORK_BATCH: "512" }, true), 512);
  assert.equal(forkBatchSize({ ASK_CODEBASE_FORK_BATCH: "x" }, true), 256);
});

test("the shim is told the cells of a context while it is made, and only then", async () => {
  let seen: string | undefined;
  await withSharedCells(33_024, async () => { seen = process.env.ASK_CODEBASE_SHARED_CELLS; });
  assert.equal(seen, "33024");
  assert.equal(process.env.ASK_CODEBASE_SHARED_CELLS, undefined);
  await assert.rejects(withSharedCells(10, async () => { throw new Error("no room"); }), /no room/);
  assert.equal(process.env.ASK_CODEBASE_SHARED_CELLS, undefined);
  await withSharedCells(undefined, async () => { seen = process.env.ASK_CODEBASE_SHARED_CELLS; });
  assert.equal(seen, undefined);
});
