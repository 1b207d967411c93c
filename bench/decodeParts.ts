// npm run bench:decode-parts -- --model FILE [--gpu G] [--tokens N] [--runs R] [--depth D] (default 600)
// Where a decoded token's time goes, between llama.cpp and the user, in one process, one model and
// one context, each way the same prompt at the same depth, greedy, the median of R runs:
//   bare       node-llama-cpp's evaluate() generator and nothing else
//   sequence   the engine's own generate() over it (end-of-generation check, counters, and on a GPU
//              the event loop kept polling: engine/llama/awakeLoop.ts)
//   + text     and each token turned into text as MarginWriter does (TextStream)
//   + events   and a margin-token event per token, serialised and sent to another process over an
//              IPC channel, as the engine's process sends them to the extension or the CLI
//   margin     a whole fused margin through WimSession (verdict, generation, events), per token
// Prints ms per token for each, and each one's cost over the one before.
import { fork } from "node:child_process";
import { parseArgs } from "node:util";
import type { LlamaContextSequence } from "node-llama-cpp";
import type { GpuChoice } from "../src/engine/llama/runtime";
import { openLlamaEngine } from "../src/engine/llama/llamaEngine";
import { TextStream } from "../src/core/wim/textStream";
import { WimSession } from "../src/core/wim/session";
import type { Token } from "../src/core/wim/engine";
import { median } from "./median";
import { runWithAddonShim } from "./addonShim";

runWithAddonShim();

const { values } = parseArgs({
  options: {
    model: { type: "string" }, gpu: { type: "string", default: "auto" }, tokens: { type: "string", default: "100" },
    runs: { type: "string", default: "5" }, depth: { type: "string", default: "600" },
  },
});
if (!values.model) throw new Error("--model FILE is required");
const want = Number(values.tokens);
const runs = Number(values.runs);
const depth = Number(values.depth);


async function main(): Promise<void> {
  const engine = await openLlamaEngine({ modelPath: values.model!, gpu: values.gpu as GpuChoice });
  const [seq] = await engine.prepare({ tokensPerSequence: depth + 4 * want + 2048, sequences: 1 });
  // The bench reaches under the engine's sequence for node-llama-cpp's own: the same context, the same tokens.
  const raw = (seq as unknown as { seq: LlamaContextSequence }).seq;
  let filler: Token[] = [];
  for (let i = 0; filler.length < depth; i++) filler = filler.concat(engine.tokenizeText(`export function f${i}(x: number): number {\n  return x * ${i % 97} + ${i};\n}\n`));
  await seq!.append(filler.slice(0, depth));
  const base = seq!.length;
  const prompt = engine.tokenizeText("\nSummarise what the code above does, in detail:\n");
  const sink = fork("-e", ["process.on('message', () => {})"], { stdio: ["ignore", "ignore", "ignore", "ipc"], execArgv: [] });
  await new Promise((r) => setTimeout(r, 200));

  /** ms per token after the first (the first includes the prompt), of one generation. */
  const timed = async (loop: (tick: () => void) => Promise<void>): Promise<number> => {
    const times: number[] = [];
    await loop(() => times.push(performance.now()));
    await seq!.truncate(base);
    return times.length > 1 ? (times.at(-1)! - times[0]!) / (times.length - 1) : NaN;
  };
  const ways: [string, (tick: () => void) => Promise<void>][] = [
    ["bare", async (tick) => {
      let n = 0;
      for await (const _ of raw.evaluate(prompt as never, { temperature: 0 })) { tick(); if (++n >= want) break; }
    }],
    ["sequence", async (tick) => {
      for await (const _ of seq!.generate(prompt, { maxTokens: want })) tick();
    }],
    ["+ text", async (tick) => {
      const text = new TextStream((t) => engine.detokenize(t));
      for await (const token of seq!.generate(prompt, { maxTokens: want })) { text.push(token); tick(); }
    }],
    ["+ events", async (tick) => {
      const text = new TextStream((t) => engine.detokenize(t));
      for await (const token of seq!.generate(prompt, { maxTokens: want })) {
        const delta = text.push(token);
        sink.send({ type: "event", event: { type: "margin-token", runId: "00000000-0000-0000-0000-000000000000", segment: 7, text: delta } });
        tick();
      }
    }],
  ];
  const rows: { way: string; msPerToken: number }[] = [];
  for (const [way, loop] of ways) {
    await timed(loop); // warm-up
    const ms: number[] = [];
    for (let r = 0; r < runs; r++) ms.push(await timed(loop));
    rows.push({ way, msPerToken: median(ms) });
  }
  // A whole margin through the session: one segment of code (its tokens given), every verdict relevant.
  // Its segment is as long as the depth above (less the opening and the prompt), so that the margin
  // decodes about as deep in the context as the other ways.
  let code: Token[] = [];
  for (let i = 0; code.length < Math.max(64, depth - 120); i++) code = code.concat(engine.tokenizeText(`export const value${i} = ${i} * 31; // line ${i}\n`));
  const segment = { index: 0, text: "", tokens: code.length, tokenIds: Int32Array.from(code), sources: [{ path: "a.ts", startLine: 1, endLine: 1, headerStart: 0, start: 0, end: 0, tokens: code.length, chunkEnds: [] }] };
  const marginMs: number[] = [];
  for (let r = 0; r <= runs; r++) {
    const session = new WimSession(engine, { segments: [segment], files: 1 }, "What does the code do?", { marginTokens: want, answerTokens: 1, judge: () => true });
    const at: number[] = [];
    let tokens = 0;
    for await (const e of session.run()) {
      if (e.type === "margin-token") at.push(performance.now());
      if (e.type === "margin-done") { at.push(performance.now()); tokens = e.tokens; }
    }
    if (r > 0 && tokens > 1) marginMs.push((at.at(-1)! - at[0]!) / (tokens - 1));
  }
  if (marginMs.length) rows.push({ way: "margin", msPerToken: median(marginMs) });
  // Inside the bare loop: node-llama-cpp's native calls, timed by wrapping them (the bench only):
  // decodeBatch (llama_decode on a worker thread) and sampleToken (the sampler, on a worker thread).
  const native = (raw.context as unknown as { _ctx: Record<string, (...args: unknown[]) => unknown> })._ctx;
  const spent: Record<string, { ms: number; calls: number }> = {};
  const originals = new Map<string, (...args: unknown[]) => unknown>();
  for (const name of ["decodeBatch", "sampleToken", "initBatch", "addToBatch"]) {
    const original = native[name]!;
    originals.set(name, original);
    spent[name] = { ms: 0, calls: 0 };
    // The addon's methods are read-only on its prototype: the wrapper is an own property, deleted after.
    Object.defineProperty(native, name, {
      configurable: true, writable: true,
      value: (...args: unknown[]): unknown => {
        const t = performance.now();
        const out = original.apply(native, args);
        const done = (): void => { spent[name]!.ms += performance.now() - t; spent[name]!.calls++; };
        if (out instanceof Promise) return out.finally(done);
        done();
        return out;
      },
    });
  }
  let inside = 0;
  let generated = 0;
  for (let r = 0; r < runs; r++) {
    for (const k of Object.keys(spent)) spent[k] = { ms: 0, calls: 0 };
    const t = performance.now();
    let n = 0;
    for await (const _ of raw.evaluate(prompt as never, { temperature: 0 })) if (++n >= want) break;
    inside = performance.now() - t;
    generated = n;
    await seq!.truncate(base);
  }
  for (const name of originals.keys()) delete native[name];
  const per = (name: string): number => spent[name]!.ms / generated;
  const accounted = per("decodeBatch") + per("sampleToken") + per("initBatch") + per("addToBatch");
  console.log(`inside bare (last run, ${generated} tokens, ${(inside / generated).toFixed(3)} ms/token): decodeBatch ${per("decodeBatch").toFixed(3)} ms (${spent.decodeBatch!.calls} calls), ` +
    `sampleToken ${per("sampleToken").toFixed(3)} ms (${spent.sampleToken!.calls} calls), initBatch+addToBatch ${(per("initBatch") + per("addToBatch")).toFixed(3)} ms, the rest (node-llama-cpp's JavaScript between them) ${(inside / generated - accounted).toFixed(3)} ms`);
  rows.push({ way: "bare: decodeBatch", msPerToken: per("decodeBatch") }, { way: "bare: sampleToken", msPerToken: per("sampleToken") }, { way: "bare: the rest", msPerToken: inside / generated - accounted });
  sink.kill();
  let previous: number | undefined;
  for (const r of rows.filter((x) => !x.way.startsWith("bare:"))) {
    console.log(`${r.way.padEnd(10)} ${r.msPerToken.toFixed(3)} ms/token${previous !== undefined ? `  (${r.msPerToken - previous >= 0 ? "+" : ""}${(r.msPerToken - previous).toFixed(3)} over the line above)` : ""}`);
    previous = r.msPerToken;
  }
  console.log(JSON.stringify({ bench: "decode-parts", backend: engine.info.backend, addonShim: engine.info.addonShim, gpu: engine.info.gpuNames, model: engine.shape, depth, tokens: want, runs, rows, overBare: +((rows.find((x) => x.way === "margin") ?? rows[3]!).msPerToken / rows[0]!.msPerToken).toFixed(3) }));
  await engine.dispose();
}

main().catch((err: unknown) => { console.error(err); process.exitCode = 1; });
