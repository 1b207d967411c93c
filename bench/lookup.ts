// npm run bench:lookup -- [--model FILE] [--gpu G] [--codebases N] [--rounds R]
// Prompt lookup on output that copies from what was read: node-llama-cpp's InputLookupTokenPredictor
// drafts the next tokens from the segment a margin extracts from (and, for the answer, from the
// kept margins), and one decode checks the drafts with the next token. Margins and answers of the
// task-trained model (test/fixtures/fidelity-q4_0.gguf by default) copy names, values and paths,
// as extractive margins do. Reads the same held-out codebases with the lookup off and on, R rounds
// alternating, in one process; prints the margins' and answers' time per generated token, the
// drafts kept and refuted, and whether every margin and answer is the same either way.
import { parseArgs } from "node:util";
import { packTask, TRAINING_CHARS } from "./fidelity/examples";
import { makeTask } from "./fidelity/task";
import { openLlamaEngine } from "../src/engine/llama/llamaEngine";
import type { GpuChoice } from "../src/engine/llama/runtime";
import { WimSession } from "../src/core/wim/session";
import { FIDELITY_FIXTURE, FIDELITY_SETTINGS } from "../test/support/fidelityFixture";
import { median } from "./median";
import { runWithAddonShim } from "./addonShim";

runWithAddonShim();

const { values } = parseArgs({
  options: {
    model: { type: "string", default: FIDELITY_FIXTURE }, gpu: { type: "string", default: "auto" },
    codebases: { type: "string", default: "8" }, rounds: { type: "string", default: "3" },
  },
});
/** Held-out seeds, as the fidelity benchmark's (training used seeds below 100M). */
const seeds = Array.from({ length: Number(values.codebases) }, (_, i) => 960_000_000 + i);

interface Reading { ms: number; tokens: number; outputs: string[]; drafts: { used: number; refuted: number } }

async function readAll(lookup: boolean): Promise<Reading> {
  const engine = await openLlamaEngine({ modelPath: values.model!, gpu: values.gpu as GpuChoice, promptLookup: lookup });
  const { marginTokens, answerTokens, classify, segmentTokens } = FIDELITY_SETTINGS;
  let ms = 0, tokens = 0;
  const outputs: string[] = [];
  try {
    for (const seed of seeds) {
      const task = makeTask({ seed, chars: TRAINING_CHARS, hops: 1 });
      const { segments } = packTask(engine, task, segmentTokens);
      const session = new WimSession(engine, { segments, files: task.files.length }, task.question, { marginTokens, answerTokens, classify });
      for await (const e of session.run()) {
        if (e.type === "error") throw new Error(e.message);
        if (e.type === "done") {
          ms += e.timings.marginMs + e.timings.answerMs;
          tokens += e.tokens.margins + e.tokens.answer;
          outputs.push(e.answer);
        }
      }
      outputs.push(...session.margins.map((m) => `${m.segment}: ${m.text}`));
    }
    const stats = engine.predictions();
    return { ms, tokens, outputs, drafts: { used: stats.used, refuted: stats.refuted } };
  } finally {
    await engine.dispose();
  }
}

async function main(): Promise<void> {
  await readAll(false); // untimed: the backend's first passes (pipelines, kernels)
  const off: Reading[] = [];
  const on: Reading[] = [];
  for (let r = 0; r < Number(values.rounds); r++) {
    off.push(await readAll(false));
    on.push(await readAll(true));
  }
  const perToken = (rs: Reading[]): number => median(rs.map((r) => r.ms / r.tokens));
  const sameAs = (rs: Reading[]): boolean => rs.every((r) => JSON.stringify(r.outputs) === JSON.stringify(off[0]!.outputs));
  // Apart: a backend whose rounds differ among themselves says nothing about the lookup.
  const offRepeat = sameAs(off);
  const same = offRepeat && sameAs(on);
  const d = on[0]!.drafts;
  console.log(`${seeds.length} codebases, ${off[0]!.tokens} margin and answer tokens a round, median of ${off.length} rounds`);
  console.log(`lookup off: ${perToken(off).toFixed(2)} ms per generated token (margins and answers, with their prompts)`);
  console.log(`lookup on:  ${perToken(on).toFixed(2)} ms per generated token; ${d.used} drafted tokens kept, ${d.refuted} refuted; on / off ${(perToken(on) / perToken(off)).toFixed(2)}`);
  console.log(`margins and answers the same in every round without the lookup: ${offRepeat}; and with it: ${same}`);
  console.log(JSON.stringify({ bench: "lookup", model: values.model, gpu: values.gpu, codebases: seeds.length, tokens: off[0]!.tokens, offMsPerToken: perToken(off), onMsPerToken: perToken(on), ratio: perToken(on) / perToken(off), drafts: d, offRepeat, same }));
}

main().catch((err: unknown) => { console.error(err); process.exitCode = 1; });
