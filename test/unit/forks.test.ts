// Where a warm question's margins go on forks of the reader (engine/llama/forks.ts,
// core/wim/forkedMargins.ts), what the shim's mode must ask for, and how it is told the cells.
import { test } from "node:test";
import assert from "node:assert/strict";
import { withSharedCells } from "../../src/engine/llama/forks";
import { forksWanted, shimWants } from "../../src/shared/addonShim";
import { forksFor } from "../../src/core/wim/forkedMargins";


test("forks only where the setting asks: they won nothing on CUDA or the CPU, and Vulkan died of them", () => {
  assert.equal(forksWanted({}), false);
  assert.equal(forksWanted({ ASK_CODEBASE_FORKS: "off" }), false);
  assert.equal(forksWanted({ ASK_CODEBASE_FORKS: " on " }), true);
});

test("a warm question gets forks only where the engine shares cells, and no separate classifier judges its margins", () => {
  const sharing = { model: "m", backend: "cuda", gpuNames: [], gpuLayers: 1, totalLayers: 1, trainContextSize: 1, sharesCells: true };
  assert.equal(forksFor(sharing, "fused", true), 4);
  assert.equal(forksFor(sharing, "off", true, 1), 1);
  assert.equal(forksFor(sharing, "fused", false), 0, "a cold reading writes its margins on the reader");
  assert.equal(forksFor(sharing, "separate", true), 0, "the classifier takes the second sequence");
  assert.equal(forksFor({ ...sharing, sharesCells: undefined }, "fused", true), 0);
  assert.equal(forksFor(sharing, "fused", true, 0), 0);
});

test("the shim's mode asks for shared cells by name only: unset or \"on\" leaves the addon's contexts as node-llama-cpp makes them", () => {
  assert.equal(shimWants("share", {}), false);
  assert.equal(shimWants("share", { ASK_CODEBASE_ADDON_SHIM: "on" }), false);
  assert.equal(shimWants("greedy", { ASK_CODEBASE_ADDON_SHIM: "on" }), true);
  assert.equal(shimWants("pool", {}), true);
  assert.equal(shimWants("share", { ASK_CODEBASE_ADDON_SHIM: "nosync,greedy,share" }), true);
  assert.equal(shimWants("share", { ASK_CODEBASE_ADDON_SHIM: "nosync,greedy" }), false);
  assert.equal(shimWants("share", { ASK_CODEBASE_ADDON_SHIM: "sharex" }), false);
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
