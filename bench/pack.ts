// npm run bench:pack -- DIR --model FILE [--segment-tokens N]
// Reads, packs and tokenizes DIR with ask-codebase (dist/cli.js pack) and with repomix (security
// check off), each in a fresh process, in the same run; prints wall time, peak memory (summed over
// every Node process each starts), files, bytes (repomix: characters) and tokens for both, their
// ratios, and a final JSON line.
import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseArgs } from "node:util";

interface Run { wallS: number; peakMiB: number; processes: number; stdout: string }

async function measure(args: string[]): Promise<Run> {
  const dir = mkdtempSync(join(tmpdir(), "bench-pack-"));
  const rssFile = join(dir, "rss");
  const started = performance.now();
  const stdout = await new Promise<string>((done, fail) => {
    const env = { ...process.env, PEAK_RSS_FILE: rssFile, NODE_OPTIONS: `${process.env.NODE_OPTIONS ?? ""} --require ${resolve("bench/peakRss.cjs")}` };
    const child = spawn(process.execPath, args, { env, stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (d) => (out += d));
    child.on("exit", (code) => (code === 0 ? done(out) : fail(new Error(`${args.join(" ")} exited with ${code}`))));
  });
  const wallS = (performance.now() - started) / 1000;
  const lines = readFileSync(rssFile, "utf8").trim().split("\n");
  const peakMiB = lines.reduce((n, l) => n + Number(l.split(" ")[1]), 0) / 1024;
  rmSync(dir, { recursive: true, force: true });
  return { wallS, peakMiB, processes: lines.length, stdout };
}

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { model: { type: "string" }, "segment-tokens": { type: "string" } } });
  const dir = positionals[0];
  if (!dir || !values.model) throw new Error("usage: npm run bench:pack -- DIR --model FILE [--segment-tokens N]");
  const segmentTokens = values["segment-tokens"] ?? "4096";
  const out = join(mkdtempSync(join(tmpdir(), "bench-repomix-")), "out.xml");

  const ours = await measure(["dist/cli.js", "pack", dir, "--model", values.model, "--segment-tokens", segmentTokens, "--json"]);
  const plan = JSON.parse(ours.stdout) as { files: { bytes: number }[]; totalTokens: number; segments: unknown[]; skipped: unknown[] };
  const theirs = await measure([resolve("node_modules/repomix/bin/repomix.cjs"), dir, "--no-security-check", "-o", out]);
  const figure = (label: string): number => Number(/([\d,]+)/.exec(theirs.stdout.split("\n").find((l) => l.includes(label)) ?? "")?.[1]?.replace(/,/g, "") ?? NaN);
  rmSync(out, { force: true });

  const result = {
    dir: resolve(dir),
    model: resolve(values.model),
    segmentTokens: Number(segmentTokens),
    askCodebase: { wallS: ours.wallS, peakMiB: ours.peakMiB, processes: ours.processes, files: plan.files.length, bytes: plan.files.reduce((n, f) => n + f.bytes, 0), tokens: plan.totalTokens, segments: plan.segments.length, skipped: plan.skipped.length },
    repomix: { wallS: theirs.wallS, peakMiB: theirs.peakMiB, processes: theirs.processes, files: figure("Total Files"), chars: figure("Total Chars"), tokens: figure("Total Tokens") },
    ratios: { wall: ours.wallS / theirs.wallS, peakMemory: ours.peakMiB / theirs.peakMiB },
  };
  // repomix reports characters, ask-codebase bytes: the same figure for ASCII text.
  const row = (name: string, r: { wallS: number; peakMiB: number; processes: number; files: number; tokens: number }, text: string): string =>
    `${name.padEnd(13)} ${r.wallS.toFixed(2).padStart(7)} s ${r.peakMiB.toFixed(0).padStart(6)} MiB (${r.processes} processes) ${String(r.files).padStart(7)} files ${text.padStart(16)} ${r.tokens.toLocaleString("en-US").padStart(12)} tokens`;
  const millions = (n: number, unit: string): string => `${(n / 1e6).toFixed(1)} M ${unit}`;
  console.log(row("ask-codebase", result.askCodebase, millions(result.askCodebase.bytes, "bytes")));
  console.log(row("repomix", result.repomix, millions(result.repomix.chars, "chars")));
  console.log(`ratios: wall ${result.ratios.wall.toFixed(2)}x (goal <= 0.33), peak memory ${result.ratios.peakMemory.toFixed(2)}x (goal <= 0.5)`);
  console.log(JSON.stringify(result));
}

main().catch((err) => {
  console.error(`bench:pack: ${(err as Error).message}`);
  process.exitCode = 1;
});
