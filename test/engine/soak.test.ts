// 50 questions in a row through the engine's process: its memory after every 10 must stop
// growing (under 2% from the 10th to the 50th, as the README says), and nothing may pile up: contexts, sequences, processes.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import type { WimEvent } from "../../src/core/wim/events";
import type { RunSettings } from "../../src/shared/engineProtocol";
import { ask, runSettings } from "../support/engineRuns";
import { EngineClient } from "../../src/client/engineClient";
import { tempDir, writeTree } from "../support/fixtures";
import { testModelPath } from "../support/models";

const dir = tempDir();
const ended = new Map<string, WimEvent>();
let client: EngineClient;
let settings: RunSettings;

before(() => {
  const files: Record<string, string> = {};
  for (const name of ["a", "b", "c", "d"]) files[`${name}.ts`] = Array.from({ length: 30 }, (_, i) => `export const ${name}${i} = ${i} * 3; // ${name}\n`).join("");
  writeTree(dir.path, files);
  settings = runSettings({ model: testModelPath("tiny"), segmentTokens: 256, marginTokens: 8, answerTokens: 8, classify: "separate" });
  client = new EngineClient({ script: resolve("dist/engineHost.js"), execArgv: ["--expose-gc"], onEvent: (e) => { if (e.type === "done" || e.type === "error") ended.set(e.runId, e); } });
});
after(async () => {
  await client.dispose();
  dir.dispose();
});

const children = (pid: number): number[] => {
  try {
    return execFileSync("ps", ["-o", "pid=", "--ppid", String(pid)], { encoding: "utf8" }).split("\n").map((s) => Number(s.trim())).filter(Boolean);
  } catch {
    return [];
  }
};

test("50 questions in a row: memory levels off, no context, sequence or process piles up", async () => {
  const rss: number[] = [];
  const heap: number[] = [];
  for (let i = 1; i <= 50; i++) {
    const runId = `soak-${i}`;
    await ask(client, runId, [dir.path], `What is ${"abcd"[i % 4]}${i % 30}?`, settings);
    while (!ended.has(runId)) await sleep(5);
    const end = ended.get(runId)!;
    assert.equal(end.type, "done", JSON.stringify(end));
    // Sampled after every question, each sample collecting garbage first: memory held, not the
    // allocator's high-water mark after ten questions of uncollected garbage (that read 14% higher
    // at question 20 and then stayed flat).
    const stats = await client.stats();
    if (i % 10 === 0) {
      rss.push(stats.rssBytes);
      heap.push(stats.heapUsedBytes);
      assert.deepEqual({ contexts: stats.contexts, sequences: stats.sequences, models: stats.modelsLoaded }, { contexts: 1, sequences: 2, models: 1 });
      assert.deepEqual(children(client.pid!), [], "the engine process starts no lasting children");
    }
  }
  const mib = rss.map((b) => (b / 1048576).toFixed(1));
  console.log(`engine process RSS after 10, 20, 30, 40, 50 questions: ${mib.join(", ")} MiB`);
  const growth = (rss[4]! - rss[0]!) / rss[0]!;
  console.log(`growth from 10 to 50 questions: ${(growth * 100).toFixed(2)}%; JS heap in use: ${heap.map((b) => (b / 1048576).toFixed(1)).join(", ")} MiB`);
  assert.ok(growth < 0.02, `RSS grew ${(growth * 100).toFixed(1)}% from question 10 to 50 (${mib.join(" → ")} MiB)`);
  assert.equal(client.restarts, 0);
});
