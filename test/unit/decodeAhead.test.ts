// When the engine asks the addon shim to decode each token ahead (engine/llama/decodeAhead.ts): the
// rule it shares with the awake loop, the user's setting over it, and what it tells the shim.
import { test } from "node:test";
import assert from "node:assert/strict";
import { SHIM_AHEAD_VARIABLE, decodeAheadWanted, settleDecodeAhead } from "../../src/engine/llama/decodeAhead";

test("decoding ahead is wanted only with the whole model on a GPU, unless the setting says otherwise", () => {
  assert.equal(decodeAheadWanted({}, "cpu", 0, 25), false, "a CPU decode computes before it returns");
  assert.equal(decodeAheadWanted({}, "cuda", 25, 25), true);
  assert.equal(decodeAheadWanted({}, "vulkan", 25, 25), true);
  assert.equal(decodeAheadWanted({}, "cuda", 24, 25), false, "a layer on the CPU computes before the decode returns");
  assert.equal(decodeAheadWanted({ ASK_CODEBASE_DECODE_AHEAD: "off" }, "cuda", 25, 25), false);
  assert.equal(decodeAheadWanted({ ASK_CODEBASE_DECODE_AHEAD: " on" }, "cpu", 0, 25), true);
  // The awake loop's setting is its own.
  assert.equal(decodeAheadWanted({ ASK_CODEBASE_AWAKE_LOOP: "off" }, "cuda", 25, 25), true);
});

test("the choice reaches the shim through its own variable, never the user's", () => {
  const env: NodeJS.ProcessEnv = { ASK_CODEBASE_DECODE_AHEAD: "on" };
  settleDecodeAhead(env, false);
  assert.equal(env[SHIM_AHEAD_VARIABLE], "off");
  assert.equal(env.ASK_CODEBASE_DECODE_AHEAD, "on");
  settleDecodeAhead(env, true);
  assert.equal(env[SHIM_AHEAD_VARIABLE], "on");
  assert.equal(SHIM_AHEAD_VARIABLE, "ASK_CODEBASE_ADDON_SHIM_AHEAD", "the name decodeAhead.c reads");
});
