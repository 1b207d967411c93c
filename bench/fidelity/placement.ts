// npm run bench:fidelity:placement -- --model FILE [--tasks 8] [--segment-tokens 1024] [--seed 900300000]
// Where in the reading order the defining file sits, and whether the model's fused verdict still
// finds it: the same 1-hop codebase read three times, the defining file moved first, second and
// last (the rest in path order). Relevance-first reading puts it first, which is where run 10
// missed it (the definition then lies up to a segment's length before the extractive prompt).
import { parseArgs } from "node:util";
import { WimSession } from "../../src/core/wim/session";
import { openLlamaEngine } from "../../src/engine/llama/llamaEngine";
import { packTask, TRAINING_CHARS } from "./examples";
import { makeTask, type Task } from "./task";
import { runWithAddonShim } from "../addonShim";

runWithAddonShim();

const { values } = parseArgs({ options: { model: { type: "string" }, tasks: { type: "string", default: "8" }, "segment-tokens": { type: "string", default: "1024" }, seed: { type: "string", default: "900300000" } } });

async function main(): Promise<void> {
  if (!values.model) { console.error("usage: npm run bench:fidelity:placement -- --model FILE [--tasks 8] [--segment-tokens 1024]"); process.exit(2); }
  const engine = await openLlamaEngine({ modelPath: values.model, gpu: "cpu", threads: 1 });
  const places = ["first", "second", "last"] as const;
  const found: Record<(typeof places)[number], number> = { first: 0, second: 0, last: 0 };
  const n = Number(values.tasks);
  for (let i = 0; i < n; i++) {
    const task = makeTask({ seed: Number(values.seed) + i, chars: TRAINING_CHARS, hops: 1 });
    const defining = task.files.find((f) => f.path === task.definition.path)!;
    const rest = task.files.filter((f) => f !== defining);
    const row: string[] = [];
    for (const place of places) {
      const at = place === "first" ? 0 : place === "second" ? 1 : rest.length;
      const t: Task = { ...task, files: [...rest.slice(0, at), defining, ...rest.slice(at)] };
      const { segments, placed } = packTask(engine, t, Number(values["segment-tokens"]));
      const session = new WimSession(engine, { segments, files: t.files.length }, t.question, { marginTokens: 48, answerTokens: 48, classify: "fused" });
      for await (const e of session.run()) if (e.type === "error") throw new Error(e.message);
      const k = placed[0]!.segment;
      const yes = session.margins.find((m) => m.segment === k)!.relevant;
      if (yes) found[place]++;
      row.push(`${place}: segment ${k + 1} of ${segments.length} ${yes ? "relevant" : "missed"}`);
    }
    console.log(`${task.definition.claim} (line ${task.definition.line}): ${row.join(" | ")}`);
  }
  console.log(`judged relevant: ${places.map((p) => `${p} ${found[p]}/${n}`).join(", ")}`);
  await engine.dispose();
}

main().catch((err) => { console.error(`bench:fidelity:placement: ${(err as Error).message}`); process.exit(1); });
