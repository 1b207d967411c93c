// The engine keeps the event loop polling while it generates (engine/llama/awakeLoop.ts), on a real
// model and a real node-llama-cpp: with the setting on, a margin's generation drives the loop and
// the loop stops by itself after it; the tokens are the ones generated without it; on the CPU it is
// off unless asked for, since there it would take a core from ggml's threads.
import { test } from "node:test";
import assert from "node:assert/strict";
import { setTimeout as sleep } from "node:timers/promises";
import type { Token } from "../../src/core/wim/engine";
import { openLlamaEngine } from "../../src/engine/llama/llamaEngine";
import { IDLE_MS } from "../../src/engine/llama/awakeLoop";
import { testModelPath } from "../support/models";
import { withEnv } from "../support/fixtures";

interface Seen { tokens: Token[]; shapeSays: boolean; turnsWhileGenerating: number; awakeAfter: boolean; turnsAfterIdle: number }

async function generateWith(setting: string | undefined): Promise<Seen> {
  return withEnv({ ASK_CODEBASE_AWAKE_LOOP: setting }, async () => {
    const engine = await openLlamaEngine({ modelPath: testModelPath("tiny"), gpu: "cpu", threads: 1 });
    try {
      const [seq] = await engine.prepare({ tokensPerSequence: 1024, sequences: 1 });
      await seq!.append(engine.tokenizeText("export function add(a: number, b: number): number {\n  return a + b;\n}\n".repeat(6)));
      const tokens: Token[] = [];
      for await (const token of seq!.generate(engine.tokenizeText("\nWhat does the code above do?\n"), { maxTokens: 24 })) tokens.push(token);
      const turnsWhileGenerating = engine.awakeLoop.turns;
      await sleep(IDLE_MS * 4);
      const awakeAfter = engine.awakeLoop.awake;
      const idle = engine.awakeLoop.turns;
      await sleep(IDLE_MS);
      return { tokens, shapeSays: engine.shape.awakeLoop, turnsWhileGenerating, awakeAfter, turnsAfterIdle: engine.awakeLoop.turns - idle };
    } finally {
      await engine.dispose();
    }
  });
}

test("generation keeps the loop polling when it is on, stops it after, and gives the same tokens", async () => {
  const on = await generateWith("on");
  const byDefault = await generateWith(undefined);
  const off = await generateWith("off");
  assert.ok(on.tokens.length > 1, "the model generated tokens");
  assert.deepEqual(on.tokens, off.tokens);
  assert.deepEqual(byDefault.tokens, off.tokens);
  assert.equal(on.shapeSays, true);
  assert.ok(on.turnsWhileGenerating > 0, "the loop turned while the margin was generated");
  assert.equal(on.awakeAfter, false, "and stopped by itself after it");
  assert.equal(on.turnsAfterIdle, 0);
  // The CPU backend: off by default, because the polling would take a core from the model.
  for (const quiet of [byDefault, off]) {
    assert.equal(quiet.shapeSays, false);
    assert.equal(quiet.turnsWhileGenerating, 0);
  }
});
