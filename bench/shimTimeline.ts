// node --import tsx bench/shimTimeline.ts LOG
// Summarises the addon shim's timeline (ASK_CODEBASE_ADDON_SHIM_TRACE=timeline, on stderr) of a
// bench:prefill-parts run: for each way's last run, the time inside the addon's decodes, inside its
// output reads (which wait for the GPU), and between its calls (sampling, node-llama-cpp's and our
// JavaScript, the thread hops); and around each read, what follows it: the gap to the next decode
// and that decode's own time. A decode returns once its graph is queued, after the wait for the
// graph before it (llama.cpp copies a batch's inputs only then), so on a GPU its time is mostly
// that wait: the GPU's time for the batch before.
import { readFileSync } from "node:fs";

interface Call { at: number; what: string; tokens: number; outputs: number; ms: number }

const PREFIX = "ask-codebase addon shim timeline: ";
/** Decodes below this many tokens are a prompt or a read's token, not a piece of a segment. */
const SMALL = 256;
const runs = new Map<string, Call[]>();
let current: Call[] | undefined;
for (const line of readFileSync(process.argv[2] ?? "/dev/stdin", "utf8").split("\n")) {
  if (!line.startsWith(PREFIX)) continue;
  const rest = line.slice(PREFIX.length).split(" ");
  if (rest[1] === "run") {
    // Each way's last run stands for it (the earlier ones set up its shapes).
    runs.set(rest[0]!, (current = []));
    continue;
  }
  current?.push({ at: Number(rest[0]), what: rest[1]!, tokens: Number(rest[2]), outputs: Number(rest[3]), ms: Number(rest[4]) });
}

const f = (n: number): string => n.toFixed(2).padStart(8);
for (const [way, calls] of runs) {
  if (!calls.length) continue;
  const span = calls.at(-1)!.at + calls.at(-1)!.ms - calls[0]!.at;
  const inside = (what: string): number => calls.filter((c) => c.what === what).reduce((n, c) => n + c.ms, 0);
  const decodes = inside("decode");
  const reads = inside("read");
  // After each read that waited (the first of a sample's reads), until the next decode: the CPU's turn.
  const stops: { gap: number; next: number; nextTokens: number }[] = [];
  for (let i = 0; i < calls.length; i++) {
    if (calls[i]!.what !== "read" || calls[i - 1]?.what === "read") continue;
    // A read's decode, not a prefill (the run's closing read), says nothing of what a stop costs.
    const j = calls.findIndex((c, k) => k > i && c.what === "decode");
    if (j < 0 || calls[j]!.outputs > 0) continue;
    const before = calls[j - 1]!;
    stops.push({ gap: calls[j]!.at - (before.at + before.ms), next: calls[j]!.ms, nextTokens: calls[j]!.tokens });
  }
  const mean = (xs: number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);
  // A small decode (a prompt, a read's token) right after a large one, and after another small one.
  const afterLarge: number[] = [];
  const afterSmall: number[] = [];
  let previous: Call | undefined;
  for (const c of calls.filter((c) => c.what === "decode")) {
    if (previous && c.tokens < SMALL) (previous.tokens >= SMALL ? afterLarge : afterSmall).push(c.ms);
    previous = c;
  }
  console.log(`${way.padEnd(8)} ${f(span)} ms: decodes ${f(decodes)}, reads ${f(reads)}, between ${f(span - decodes - reads)}` +
    (afterLarge.length ? `; a small decode after a large one ${f(mean(afterLarge))} ms (${afterLarge.length})` : "") +
    (afterSmall.length ? `, after a small one ${f(mean(afterSmall))} ms (${afterSmall.length})` : "") +
    (stops.length ? `; after a read (${stops.length}): ${f(mean(stops.map((s) => s.gap)))} ms to the next decode, which takes ${f(mean(stops.map((s) => s.next)))} ms (${Math.round(mean(stops.map((s) => s.nextTokens)))} tokens)` : ""));
}
