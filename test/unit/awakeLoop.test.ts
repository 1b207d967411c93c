// The event loop kept polling while tokens are generated on a GPU (engine/llama/awakeLoop.ts): when
// it is wanted, that a touch starts one chain of turns, and that the chain ends by itself.
import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import { AwakeLoop, IDLE_MS, awakeLoopWanted } from "../../src/engine/llama/awakeLoop";

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

test("wanted only with the whole model on a GPU, unless the setting says otherwise", () => {
  assert.equal(awakeLoopWanted({}, "cpu", 0, 25), false);
  assert.equal(awakeLoopWanted({}, "cuda", 25, 25), true);
  assert.equal(awakeLoopWanted({}, "vulkan", 25, 25), true);
  assert.equal(awakeLoopWanted({}, "vulkan", 12, 25), false, "layers on the CPU need its cores");
  assert.equal(awakeLoopWanted({ ASK_CODEBASE_AWAKE_LOOP: "off" }, "cuda", 25, 25), false);
  assert.equal(awakeLoopWanted({ ASK_CODEBASE_AWAKE_LOOP: " on " }, "cpu", 0, 25), true);
});

test("a touch keeps one chain of turns going, however often it comes, until IDLE_MS pass without one", async (t) => {
  let now = 1000;
  const loop = new AwakeLoop(() => now);
  // A failed check must not leave the chain turning (the test file would never end).
  t.after(() => loop.stop());
  assert.equal(loop.awake, false);
  loop.touch();
  assert.equal(loop.awake, true);
  for (let i = 0; i < 20; i++) {
    loop.touch();
    loop.touch();
    await turn();
  }
  // One chain: about a turn per tick, not one per touch.
  assert.ok(loop.turns >= 18 && loop.turns <= 21, `turns ${loop.turns}`);
  now += IDLE_MS;
  await turn();
  await turn();
  assert.equal(loop.awake, true, "still polling at exactly IDLE_MS");
  now += 1;
  await turn();
  await turn();
  assert.equal(loop.awake, false);
  const stopped = loop.turns;
  await turn();
  await turn();
  assert.equal(loop.turns, stopped, "no turn after it stopped");
  loop.touch();
  await turn();
  assert.equal(loop.awake, true, "a later touch starts it again");
  loop.stop();
  assert.equal(loop.awake, false, "stopped at once");
  const atStop = loop.turns;
  await turn();
  assert.equal(loop.turns, atStop, "and its pending turn never runs");
});

test("on the real clock, a loop nobody touches again stops by itself", async (t) => {
  const loop = new AwakeLoop();
  t.after(() => loop.stop());
  loop.touch();
  await sleep(IDLE_MS * 4);
  assert.equal(loop.awake, false);
  assert.ok(loop.turns > 10, `it polled while awake (${loop.turns} turns)`);
});
