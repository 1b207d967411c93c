// The task-trained model (test/fixtures/fidelity-q4_0.gguf: bench/fidelity's run 10, written as
// Q4_0 by the project's writer) reading codebases it never saw through the product's own WiM
// session: the verdicts and the answer are scored against the task's gold. Random weights of the
// same shape, on the same codebase, must fail the same checks: what passes is the reading.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { packTask, TRAINING_CHARS } from "../../bench/fidelity/examples";
import { makeTask, type Task } from "../../bench/fidelity/task";
import { openLlamaEngine, type LlamaEngine } from "../../src/engine/llama/llamaEngine";
import { WimSession } from "../../src/core/wim/session";
import { FIDELITY_FIXTURE, FIDELITY_SEEDS, FIDELITY_SETTINGS } from "../support/fidelityFixture";
import { tempDir } from "../support/fixtures";
import { writeTestModel } from "../support/testModel";

const dir = tempDir();
let trained: LlamaEngine;
let random: LlamaEngine;
before(async () => {
  trained = await openLlamaEngine({ modelPath: FIDELITY_FIXTURE, gpu: "cpu", threads: 1 });
  const randomPath = join(dir.path, "random.gguf");
  writeTestModel(randomPath, { shape: "fidelity" });
  random = await openLlamaEngine({ modelPath: randomPath, gpu: "cpu", threads: 1 });
});
after(async () => { await trained.dispose(); await random.dispose(); dir.dispose(); });

/** The extension's reading as the e2e sets it. */
async function read(engine: LlamaEngine, task: Task): Promise<{ answer: string; definingRelevant: boolean; othersRelevant: number; others: number; likely: number[]; defining: number }> {
  const { segments, placed } = packTask(engine, task, FIDELITY_SETTINGS.segmentTokens);
  const { marginTokens, answerTokens, classify } = FIDELITY_SETTINGS;
  const session = new WimSession(engine, { segments, files: task.files.length }, task.question, { marginTokens, answerTokens, classify });
  let answer = "";
  const likely: number[] = [];
  for await (const e of session.run()) {
    if (e.type === "error") throw new Error(e.message);
    if (e.type === "margin-classified" && e.confident) likely.push(e.segment);
    if (e.type === "done") answer = e.answer;
  }
  const defining = placed[0]!.segment;
  const others = session.margins.filter((m) => m.segment !== defining);
  return { defining, likely, answer, definingRelevant: session.margins.find((m) => m.segment === defining)?.relevant === true, othersRelevant: others.filter((m) => m.relevant === true).length, others: others.length };
}

test("the task-trained model finds the asked value: the defining segment is judged relevant (the likely answer, where Answer Now is offered), the others not, and the answer names the value", async () => {
  let othersRelevant = 0, others = 0;
  for (const seed of FIDELITY_SEEDS) {
    const task = makeTask({ seed, chars: TRAINING_CHARS, hops: 1 });
    const r = await read(trained, task);
    assert.ok(r.definingRelevant, `seed ${seed}: the segment defining ${task.definition.claim} was judged irrelevant`);
    assert.deepEqual(r.likely, [r.defining], `seed ${seed}: "likely answer" should mark the defining segment alone`);
    assert.ok(r.answer.includes(task.value), `seed ${seed}: ${JSON.stringify(r.answer)} does not name ${task.value}`);
    othersRelevant += r.othersRelevant;
    others += r.others;
  }
  assert.ok(others >= 3 * FIDELITY_SEEDS.length, `too few segments to judge (${others}): the codebases must span several`);
  assert.ok(othersRelevant <= others / 10, `${othersRelevant} of ${others} segments without the answer were judged relevant`);
});

test("random weights of the same shape, on the same codebase, neither find the segment nor name the value", async () => {
  const task = makeTask({ seed: FIDELITY_SEEDS[0]!, chars: TRAINING_CHARS, hops: 1 });
  const r = await read(random, task);
  assert.ok(!(r.definingRelevant && r.othersRelevant === 0), "random weights judged exactly the defining segment relevant");
  assert.ok(!r.answer.includes(task.value), `random weights named the value: ${JSON.stringify(r.answer)}`);
});

test("prompt lookup drafts a margin from the segment it extracts from and an answer from the margins, and changes nothing the model writes (CPU)", async () => {
  const lookup = await openLlamaEngine({ modelPath: FIDELITY_FIXTURE, gpu: "cpu", threads: 1, promptLookup: true });
  try {
    const task = makeTask({ seed: FIDELITY_SEEDS[1]!, chars: TRAINING_CHARS, hops: 1 });
    const plain = await read(trained, task);
    const drafted = await read(lookup, task);
    assert.deepEqual(drafted, plain);
    // The answer copies "NAME = VALUE (path:line)" from a margin, which copied it from the code.
    assert.ok(lookup.predictions().used >= 5, `drafted tokens kept: ${JSON.stringify(lookup.predictions())}`);
  } finally {
    await lookup.dispose();
  }
});
