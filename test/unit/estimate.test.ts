// What a plan says it will cost and what an answer says it covers.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { unreadDone } from "../../src/core/wim/events";
import { estimatePlan, estimateSeconds, planWindows, SpeedMemory } from "../../src/engine/estimate";
import { speedFromSize } from "../../src/shared/speed";
import { describeCoverage, describeDataHeads, describeDecoded, describeEstimate, describeRead, describeUnsaved, formatRange } from "../../src/shared/describe";

test("time ranges read at a glance", () => {
  assert.equal(formatRange(40, 50), "40–50 s");
  assert.equal(formatRange(40, 400), "40 s–7 min");
  assert.equal(formatRange(120, 420), "2–7 min");
  assert.equal(formatRange(300, 300), "about 5 min");
  assert.equal(formatRange(7200, 20000), "2.0–5.6 h");
});

test("coverage says how much of the codebase an answer rests on", () => {
  assert.equal(describeCoverage({ segments: 17, ofSegments: 247, tokens: 57_000, ofTokens: 823_000 }), "from 17 of 247 segments (7% of the tokens)");
  assert.equal(describeCoverage({ segments: 1, ofSegments: 900, tokens: 10, ofTokens: 5_000_000 }), "from 1 of 900 segments (<1% of the tokens)");
  assert.equal(describeCoverage({ segments: 12, ofSegments: 12, tokens: 100, ofTokens: 100 }), "from all 12 segments");
});

test("windows at plan time: a window holds most of the context, so a million tokens in 32k take about 35, not 70", () => {
  const sizes = Array.from({ length: 250 }, () => 4000);
  const windows = planWindows({ sizes, contextLength: 32768, prompts: { opening: 90, extract: 100, answerFixed: 90 }, marginTokens: 128, answerTokens: 512 });
  assert.equal(windows, Math.ceil(250 / Math.floor((32768 - 90 - 100 - 128) / 4000)));
  assert.equal(planWindows({ sizes: [100], contextLength: 0, prompts: { opening: 1, extract: 1, answerFixed: 1 }, marginTokens: 1, answerTokens: 1 }), 1, "a context the model does not state: one window");
});

test("a first estimate comes from the model's size and where it runs, and is a range whose ends are short and full margins", () => {
  const small = speedFromSize(400e6, "cpu", 2);
  const large = speedFromSize(4.7e9, "cpu", 2);
  assert.ok(large.prefillTokensPerSecond < small.prefillTokensPerSecond && large.decodeSecondsPerToken > small.decodeSecondsPerToken);
  assert.ok(speedFromSize(4.7e9, "gpu", 2).prefillTokensPerSecond > large.prefillTokensPerSecond * 10, "a GPU reads far faster");
  const t = estimateSeconds({ tokens: 100_000, segments: 25, windows: 4, extractTokens: 60, marginTokens: 128, answerTokens: 512, speed: small });
  assert.ok(t.low > 0 && t.high > t.low);
  const e = estimatePlan({ tokens: 100_000, segments: 25, windows: 4, extractTokens: 60, marginTokens: 128, answerTokens: 512, modelBytes: 400e6, where: "cpu" });
  assert.equal(e.basis, "model-size");
  assert.ok(e.lowSeconds < t.low && e.highSeconds > t.high, "a guess is widened both ways");
  assert.match(describeEstimate(e), /^4 windows, .+ \(first run: estimated from the model's size, on the CPU\)$/);
});

test("measured speeds are kept per machine and model, only from finished runs, and used after", () => {
  const dir = mkdtempSync(join(tmpdir(), "speeds-"));
  try {
    const memory = new SpeedMemory(join(dir, "sub", "speeds.json"), "host-a");
    const done = { ...unreadDone("r"), stoppedBy: "finished" as const, segmentsRead: 4, tokens: { prefilled: 10_000, margins: 200, answer: 100, evaluated: 0 }, timings: { totalMs: 9000, prefillMs: 5000, marginMs: 2000, classifyMs: 0, answerMs: 1000 } };
    memory.remember("m.gguf|1", "cpu", { ...done, stoppedBy: "answer-now" });
    assert.equal(memory.get("m.gguf|1"), undefined, "an early answer measures too little");
    memory.remember("m.gguf|1", "cpu", done);
    assert.deepEqual(memory.get("m.gguf|1"), { prefillTokensPerSecond: 2000, decodeSecondsPerToken: 0.01, backend: "cpu" });
    assert.equal(new SpeedMemory(join(dir, "sub", "speeds.json"), "host-b").get("m.gguf|1"), undefined, "another machine's speed is not this one's");
    assert.ok(JSON.parse(readFileSync(join(dir, "sub", "speeds.json"), "utf8")));
    const e = estimatePlan({ tokens: 20_000, segments: 5, windows: 1, extractTokens: 50, marginTokens: 128, answerTokens: 512, modelBytes: 1, where: "gpu", measured: memory.get("m.gguf|1")! });
    assert.equal(e.basis, "measured");
    assert.equal(e.where, "cpu");
    assert.match(describeEstimate(e), /^one window, .+ \(from this machine's last run, on cpu\)$/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("what planning read, in the view's line: files and tokens, what was skipped and why, what was not UTF-8 or not saved", () => {
  const summary = { planId: "p", files: 212, bytes: 1, tokens: 48_310, segments: 12, skipped: 32, skippedByReason: { binary: 30, "tool-folder": 2 }, contextSize: 0, model: "m", listing: "git ls-files" };
  assert.equal(describeRead(summary), "212 files, 48,310 tokens · skipped 32: binary 30, tool-folder 2");
  assert.equal(describeRead({ ...summary, files: 1, skipped: 0, skippedByReason: {}, decodedByEncoding: { "windows-1252": 1 } }), "1 file, 48,310 tokens · read 1 file not in UTF-8: windows-1252 1");
  assert.equal(describeDecoded({}), "");
  assert.equal(describeDecoded({ "utf-16le": 2, shift_jis: 1 }), "read 3 files not in UTF-8: utf-16le 2, shift_jis 1");
  assert.equal(describeRead({ ...summary, skipped: 0, unsaved: ["src/a.ts"] }), "212 files, 48,310 tokens · read 1 file with unsaved changes as its editor holds it");
  assert.equal(describeUnsaved(["a.ts", "b.ts"], true), "read 2 files with unsaved changes as their editors hold them: a.ts, b.ts");
  assert.equal(describeUnsaved([]), "");
  assert.equal(describeRead({ ...summary, skipped: 0, dataHeads: ["data/a.csv", "logs/b.log"] }), "212 files, 48,310 tokens · read only the first lines of 2 large data files");
  assert.equal(describeDataHeads(["a.csv"], true), "read only the first lines of 1 large data file: a.csv");
});
