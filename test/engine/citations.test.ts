// Citations come from the engine, by one pattern: a model scripted to cite files writes its
// margins and answer, and the run's events link only what the run read (an extensionless
// `Makefile:1` included, a file it never read left out).
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { planCodebase } from "../../src/core/plan";
import type { WimEvent } from "../../src/core/wim/events";
import { WimSession } from "../../src/core/wim/session";
import { openLlamaEngine, type LlamaEngine } from "../../src/engine/llama/llamaEngine";
import { tempDir, writeTree } from "../support/fixtures";
import { writeTestModel } from "../support/testModel";

const SCRIPT = ["See", " src/a.ts:2", " then", " gone.ts:4", " and", " Makefile:1-2"];
const dir = tempDir();
let engine: LlamaEngine;

before(async () => {
  const model = join(dir.path, "citing.gguf");
  writeTestModel(model, { shape: "tiny", seed: 7, script: SCRIPT });
  writeTree(dir.path, { "repo/src/a.ts": "export const a = 1;\nexport const b = a * 7;\nexport const c = 3;\n", "repo/Makefile": "all:\n\techo ok\n" });
  engine = await openLlamaEngine({ modelPath: model, gpu: "cpu", threads: 1 });
});
after(async () => {
  await engine.dispose();
  dir.dispose();
});

test("an answer's citations name only lines the run read, found by the same pattern as the margins'", async () => {
  const plan = await planCodebase([join(dir.path, "repo")], { segmentTokens: 64, countTokens: (t) => engine.tokenizeText(t).length });
  assert.ok(plan.segments.length >= 2, "the two files fall in different segments");
  const session = new WimSession(engine, { segments: plan.segments, files: plan.files.length }, "What is b?", { marginTokens: 24, answerTokens: 24, classify: "off" });
  const events: WimEvent[] = [];
  for await (const e of session.run()) events.push(e);
  const done = events.find((e): e is Extract<WimEvent, { type: "done" }> => e.type === "done")!;
  assert.equal(done.answer, SCRIPT.join(""), "the scripted model wrote its script");
  assert.deepEqual(done.citations.map((c) => `${c.path}:${c.line}-${c.endLine}`).sort(), ["Makefile:1-2", "src/a.ts:2-2"]);
  // Each margin cites only what its own segment holds.
  for (const m of events.filter((e): e is Extract<WimEvent, { type: "margin-done" }> => e.type === "margin-done")) {
    assert.deepEqual(m.citations.map((c) => c.path), m.sources.some((s) => s.path === "Makefile") ? ["Makefile"] : ["src/a.ts"]);
  }
});
