// The tokenizer helpers (tokenizerPool.ts) as real child processes: one that dies while the pool
// waits for files, even with a message sent to it then, is reported when files come, and never
// takes the process down with an error nobody listened to (CI saw that: EPIPE from the first send).
import { test } from "node:test";
import assert from "node:assert/strict";
import type { ChildProcess } from "node:child_process";
import { once } from "node:events";
import { TokenizerPool } from "../../src/engine/tokens/tokenizerPool";
import { testModelPath } from "../support/models";

const helpers = (pool: TokenizerPool): ChildProcess[] => (pool as unknown as { workers: ChildProcess[] }).workers;

test("a helper killed while the pool waits, and a message sent to it then, fail the next measure with its cause, not the process", async () => {
  const pool = new TokenizerPool(testModelPath("tiny", { hostile: true }), 2);
  try {
    const [dead] = helpers(pool);
    const gone = Promise.all([once(dead!, "exit"), once(dead!, "disconnect")]);
    dead!.kill("SIGKILL");
    await gone;
    // What the pool's first message meets when the kill comes first: a closed channel (or EPIPE,
    // when the pipe's far end closes during the write), reported as an 'error' event.
    dead!.send({ id: -1, modelPath: "", budget: 0, files: [] });
    await new Promise((r) => setTimeout(r, 50));
    await assert.rejects(pool.measure([{ path: "a.ts", text: "export const a = 1;\n", bytes: 20 }], 512), /a tokenizer process exited \(SIGKILL\)/);
  } finally {
    await pool.dispose();
  }
});

test("the pool's other helpers still measure before one is lost", async () => {
  const pool = new TokenizerPool(testModelPath("tiny", { hostile: true }), 2);
  try {
    const files = Array.from({ length: 4 }, (_, i) => ({ path: `f${i}.ts`, text: `export const v${i} = ${i};\n`.repeat(50), bytes: 0 }));
    const measured = await pool.measure(files, 512);
    assert.deepEqual(measured.map((m) => m.path), files.map((f) => f.path));
    assert.ok(measured.every((m) => "pieces" in m && m.pieces.length > 0), JSON.stringify(measured.map((m) => Object.keys(m))));
  } finally {
    await pool.dispose();
  }
});
