import { test } from "node:test";
import assert from "node:assert/strict";
import { layersThatFit } from "../../src/engine/llama/gpuFit";

// Weights grow by 10 units a layer over a base of 100 (context buffers, output layer).
const linear = (calls: number[]) => async (layers: number): Promise<number> => { calls.push(layers); return 100 + 10 * layers; };

test("the most layers below the current count whose weights and context fit", async () => {
  const calls: number[] = [];
  assert.equal(await layersThatFit(linear(calls), 175, 24), 7);
  assert.ok(calls.length <= 6, `a binary search, not a scan: ${calls.length} estimates`);
  assert.equal(await layersThatFit(linear([]), 100 + 10 * 23, 24), 23, "exactly full fits");
  assert.equal(await layersThatFit(linear([]), 1e9, 24), 23, "always fewer than now: the current count did not fit");
});

test("none when not even one layer leaves room for the context", async () => {
  assert.equal(await layersThatFit(linear([]), 109, 24), 0);
  assert.equal(await layersThatFit(linear([]), 1e9, 1), 0, "one layer now: fewer is none");
});
