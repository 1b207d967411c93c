// npm run bench:prefill-knobs -- --model FILE [--gpu G] [--tokens N] [--runs R] [--llama-bench PATH [--bench-variants]] [--log FILE]
// Which setting makes node-llama-cpp's prefill slower than llama-bench's on the same llama.cpp:
// bench:prefill-parts showed the engine adds nothing to node-llama-cpp's own prefill, which runs at
// about 0.6x llama-bench's rate on the H200. Here node-llama-cpp's context is made one setting at a
// time nearer to llama-bench's (flash attention forced on, one thread, random tokens as llama-bench
// feeds), and, with --bench-variants, llama-bench one setting nearer to node-llama-cpp's (no
// spinning thread pool, one thread). Each row: median of R passes after one untimed pass. With --log, every
// llama.cpp log line of the node-llama-cpp side goes to FILE (the contexts' setup, and
// llama.cpp's own prompt-eval timing of the "tracked" row).
import { appendFileSync, writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import type { LlamaContextOptions, Token } from "node-llama-cpp";
import { machineThreads } from "../src/engine/llama/runtime";
import { llamaBench, llamaBenchBinary } from "./llamaBench";
import { median } from "./median";
import { addonShimLoaded } from "../src/shared/addonShim";
import { runWithAddonShim } from "./addonShim";

runWithAddonShim();

const { values } = parseArgs({
  options: {
    model: { type: "string" }, gpu: { type: "string", default: "auto" }, tokens: { type: "string", default: "30720" },
    runs: { type: "string", default: "3" }, "llama-bench": { type: "string" }, "bench-variants": { type: "boolean" }, log: { type: "string" },
  },
});
if (!values.model) throw new Error("--model FILE is required");
const total = Number(values.tokens);
const runs = Number(values.runs);
const BATCH = 2048;

async function main(): Promise<void> {
  const { getLlama, LlamaLogLevel } = await import("node-llama-cpp");
  const log = values.log;
  if (log) writeFileSync(log, "");
  let tracked: string[] = [];
  const llama = await getLlama({
    gpu: values.gpu === "cpu" ? false : values.gpu as "auto" | "cuda" | "vulkan", build: "never", maxThreads: machineThreads(), progressLogs: false,
    logLevel: LlamaLogLevel.debug,
    logger: (level, message) => {
      if (log) appendFileSync(log, `[${level}] ${message}${message.endsWith("\n") ? "" : "\n"}`);
      if (/eval time/.test(message)) tracked.push(message.trim());
    },
  });
  const model = await llama.loadModel({ modelPath: values.model! });
  const vocab = model.tokenizer.length ?? 32000;
  const text: Token[] = [];
  for (let i = 0; text.length < total; i++) text.push(...model.tokenize(`export function f${i}(x: number): number {\n  return x * ${i % 97} + ${i};\n}\n`));
  text.length = total;
  let seed = 1;
  const random = Array.from({ length: total }, () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) % vocab) as Token);
  const engineLike: LlamaContextOptions = { contextSize: total + 256, sequences: 1, batchSize: BATCH, threads: machineThreads() };
  const variants: [string, LlamaContextOptions, Token[]][] = [
    ["as the engine (context +256, flash attention auto)", engineLike, text],
    ["flash attention on", { ...engineLike, flashAttention: true }, text],
    ["one thread", { ...engineLike, threads: 1 }, text],
    ["random tokens, as llama-bench", engineLike, random],
    ["tracked (llama.cpp's own timing)", { ...engineLike, performanceTracking: true }, text],
  ];
  const rows: { variant: string; tokensPerSecond: number; llamaCpp?: string }[] = [];
  for (const [name, options, tokens] of variants) {
    const context = await model.createContext(options);
    const seq = context.getSequence();
    const ms: number[] = [];
    for (let r = 0; r <= runs; r++) {
      const t = performance.now();
      await seq.evaluateWithoutGeneratingNewTokens(tokens);
      if (r > 0) ms.push(performance.now() - t);
      await seq.clearHistory();
    }
    tracked = [];
    if (options.performanceTracking) await context.printTimings();
    rows.push({ variant: name, tokensPerSecond: total / (median(ms) / 1000), ...(tracked.length ? { llamaCpp: tracked.join(" | ") } : {}) });
    await context.dispose();
  }
  const bin = llamaBenchBinary(values["llama-bench"]);
  const gpu = llama.gpu !== false;
  const benchRows = bin ? ([
    ["llama-bench as documented (spinning thread pool)", []],
    ["llama-bench --poll 0", ["--poll", "0"]],
    ["llama-bench -t 1", ["-t", "1"]],
  ] as [string, string[]][]).slice(0, values["bench-variants"] ? 3 : 1).map(([variant, extra]) => ({ variant, tokensPerSecond: llamaBench(bin, values.model!, { prompt: total, batch: BATCH, ubatch: BATCH, gpu, extra }).tokensPerSecond })) : [];
  const reference = benchRows[0]?.tokensPerSecond;
  for (const r of [...rows, ...benchRows]) {
    console.log(`${r.variant.padEnd(52)} ${Math.round(r.tokensPerSecond).toLocaleString("en-US").padStart(8)} tok/s${reference ? `  ${(r.tokensPerSecond / reference).toFixed(2)}x llama-bench` : ""}`);
    if ("llamaCpp" in r && r.llamaCpp) console.log(`  llama.cpp: ${r.llamaCpp}`);
  }
  console.log(JSON.stringify({ bench: "prefill-knobs", backend: llama.gpu || "cpu", addonShim: addonShimLoaded(), tokens: total, batch: BATCH, runs, rows, llamaBench: benchRows }));
  await model.dispose();
  await llama.dispose();
}

main().catch((err: unknown) => { console.error(err); process.exitCode = 1; });
