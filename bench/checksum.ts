// npm run bench:checksum -- --model FILE [--tokens N] [--gpu G]
// What checking a warm-cache entry's checksum costs beside loading it: a real KV state saved by
// the engine after prefilling N tokens, then, alternating, its SHA-256 streamed (what the cache
// checks before a load) and the state loaded into a sequence. Medians of 5, and their ratio.
import { statSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { fileSha256 } from "../src/core/cache/stateCache";
import type { GpuChoice } from "../src/shared/settings";
import { openLlamaEngine } from "../src/engine/llama/llamaEngine";
import { tempDir } from "../test/support/fixtures";
import { median } from "./median";

const { values } = parseArgs({ options: { model: { type: "string" }, tokens: { type: "string", default: "4096" }, gpu: { type: "string", default: "auto" } } });
if (!values.model) throw new Error("usage: npm run bench:checksum -- --model FILE [--tokens N] [--gpu G]");

async function main(): Promise<void> {
  const dir = tempDir("bench-checksum-");
  const engine = await openLlamaEngine({ modelPath: values.model!, gpu: values.gpu as GpuChoice });
  try {
    const tokens = Number(values.tokens);
    const [seq] = await engine.prepare({ tokensPerSequence: tokens + 16, sequences: 1 });
    const text = engine.tokenizeText("export function step(value: number): number { return value * 7 + 3; }\n");
    const fill: number[] = [];
    while (fill.length < tokens) fill.push(...text);
    await seq!.append(fill.slice(0, tokens));
    const file = join(dir.path, "state");
    await seq!.saveState!(file);
    const mib = statSync(file).size / 1048576;
    const hash: number[] = [];
    const load: number[] = [];
    for (let i = 0; i < 5; i++) {
      let t = performance.now();
      await fileSha256(file);
      hash.push(performance.now() - t);
      t = performance.now();
      await seq!.loadState!(file);
      load.push(performance.now() - t);
    }
    console.log(`${engine.info.backend}: a state of ${tokens} tokens is ${mib.toFixed(1)} MiB`);
    console.log(`SHA-256 streamed: ${median(hash).toFixed(0)} ms (${(mib / (median(hash) / 1000)).toFixed(0)} MiB/s); load: ${median(load).toFixed(0)} ms; checksum / load ${(median(hash) / median(load)).toFixed(2)}x`);
    console.log(JSON.stringify({ bench: "checksum", backend: engine.info.backend, tokens, mib, hashMs: median(hash), loadMs: median(load), ratio: median(hash) / median(load) }));
  } finally {
    await engine.dispose();
    dir.dispose();
  }
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
