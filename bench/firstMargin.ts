// npm run bench:first-margin -- DIR --model FILE [--segment-tokens N] [--margin-tokens N] [--gpu G]
// A question's first seconds, through the engine's process as the extension drives it: from the
// question to the plan summary (what the confirmation shows), and from "Go" to the first margin.
// Also how often each file was opened for reading (bench/countReads.cjs, preloaded into the
// engine's process). Prints the figures and a final JSON line.
import { readFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";
import type { WimEvent } from "../src/core/wim/events";
import type { RunSettings } from "../src/shared/engineProtocol";
import { EngineClient } from "../src/client/engineClient";
import { defaultSettings } from "../src/shared/settings";
import { tempDir } from "../test/support/fixtures";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    model: { type: "string" },
    "segment-tokens": { type: "string", default: "512" },
    "margin-tokens": { type: "string", default: "8" },
    gpu: { type: "string", default: "cpu" },
  },
});
const dir = positionals[0] && resolve(positionals[0]);
if (!dir || !values.model) throw new Error("usage: npm run bench:first-margin -- DIR --model FILE [--segment-tokens N] [--margin-tokens N] [--gpu G]");
const work = tempDir("bench-first-margin-");
const readsFile = join(work.path, "reads");
const events: WimEvent[] = [];
let onEvent: (() => void) | undefined;
let startedAt = 0;
const client = new EngineClient({
  script: resolve("dist/engineHost.js"),
  execArgv: ["--require", resolve("bench/countReads.cjs")],
  env: { ...process.env, COUNT_READS_ROOT: dir + "/", COUNT_READS_FILE: readsFile },
  onEvent: (e) => { if (e.type === "run-started") startedAt = performance.now(); events.push(e); onEvent?.(); },
});
const until = (test: () => boolean): Promise<void> => new Promise((done) => {
  if (test()) return done();
  onEvent = () => { if (test()) { onEvent = undefined; done(); } };
});
const { confirmAboveTokens: _, ...defaults } = defaultSettings();
const settings: RunSettings = {
  ...defaults, model: resolve(values.model), gpu: values.gpu as RunSettings["gpu"], segmentTokens: Number(values["segment-tokens"]), marginTokens: Number(values["margin-tokens"]),
  answerTokens: 8, classify: "fused", cacheSizeMiB: 0, modelDirectory: join(work.path, "models"), cacheDir: join(work.path, "cache"),
};
const question = "Where is the retry delay computed?";

async function main(): Promise<void> {
const asked = performance.now();
const summary = await client.plan([dir], question, settings);
const planned = performance.now();
const runId = "bench";
await client.run(runId, summary.planId);
await until(() => events.some((e) => e.type === "margin-done" || e.type === "error"));
const failed = events.find((e) => e.type === "error");
if (failed) throw new Error(`the run failed: ${failed.message}`);
const firstMargin = performance.now();
client.control({ type: "stop", runId });
await until(() => events.some((e) => e.type === "done" || e.type === "error"));
const stats = await client.stats();
process.kill(client.pid!, "SIGUSR2");
await new Promise((r) => setTimeout(r, 500));
const reads = readFileSync(readsFile, "utf8").trim().split("\n").filter(Boolean).map((l) => Number(l.split(" ")[0]));
await client.dispose();
work.dispose();

const s = (ms: number): string => `${(ms / 1000).toFixed(2)} s`;
const perFile = { files: reads.length, max: Math.max(...reads), mean: reads.reduce((a, b) => a + b, 0) / Math.max(1, reads.length) };
console.log(`${dir}: ${summary.files} files, ${summary.tokens.toLocaleString("en-US")} tokens in ${summary.segments} segments`);
console.log(`question -> plan summary: ${s(planned - asked)}`);
console.log(`Go -> first margin:       ${s(firstMargin - planned)} (to run-started ${s(startedAt - planned)}, then the first segment's prefill and margin ${s(firstMargin - startedAt)})`);
const passes = (stats.tokenizedChars ?? NaN) / summary.bytes;
console.log(`text counted or tokenized: ${passes.toFixed(2)} times the codebase's size`);
console.log(`opened for reading per file: mean ${perFile.mean.toFixed(2)}, max ${perFile.max} (${perFile.files} files)`);
console.log(JSON.stringify({ bench: "first-margin", files: summary.files, tokens: summary.tokens, segments: summary.segments, planS: (planned - asked) / 1000, firstMarginS: (firstMargin - planned) / 1000, runStartedS: (startedAt - planned) / 1000, readsPerFile: perFile, tokenizedPasses: passes, settings: { segmentTokens: settings.segmentTokens, marginTokens: settings.marginTokens, gpu: settings.gpu } }));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
