// node --import tsx bench/shimTimeline.ts LOG
// Summarises the addon shim's timeline (ASK_CODEBASE_ADDON_SHIM_TRACE=timeline, on stderr) of a
// bench:prefill-parts run: for each way's last run, the time inside the addon's decodes, inside its
// output reads (which wait for the GPU), and between its calls (sampling, node-llama-cpp's and our
// JavaScript, the thread hops); and around each read, what follows it: the gap to the next decode
// and that decode's own time. A decode returns once its graph is queued, after the wait for the
// graph before it (llama.cpp copies a batch's inputs only then), so on a GPU its time is mostly
// that wait: the GPU's time for the batch before.
// With the steps inside each decode (bench/decode-steps.sh), it also splits the large decodes that
// follow a read (the GPU idle as they begin: WiM's stop) and those that follow a large decode (the
// GPU busy: reading on) into their steps (bench/decodeSteps.c says what each is).
import { readFileSync } from "node:fs";

interface Call { at: number; what: string; tokens: number; outputs: number; ms: number }

const PREFIX = "ask-codebase addon shim timeline: ";
/** Decodes below this many tokens are a prompt or a read's token, not a piece of a segment. */
const SMALL = 256;
/** Lines of decodeSteps.c: steps inside a decode, not calls of the addon's. */
const STEPS = new Set(["reset", "alloc", "compute", "wait", "upload"]);
const runs = new Map<string, { calls: Call[]; steps: Call[] }>();
let current: { calls: Call[]; steps: Call[] } | undefined;
for (const line of readFileSync(process.argv[2] ?? "/dev/stdin", "utf8").split("\n")) {
  if (!line.startsWith(PREFIX)) continue;
  const rest = line.slice(PREFIX.length).split(" ");
  if (rest[1] === "run") {
    // Each way's last run stands for it (the earlier ones set up its shapes).
    runs.set(rest[0]!, (current = { calls: [], steps: [] }));
    continue;
  }
  const call = { at: Number(rest[0]), what: rest[1]!, tokens: Number(rest[2]), outputs: Number(rest[3]), ms: Number(rest[4]) };
  current?.[STEPS.has(call.what) ? "steps" : "calls"].push(call);
}

const f = (n: number): string => n.toFixed(2).padStart(8);
const mean = (xs: number[]): number => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : 0);

/** A decode's steps, in ms: each from the decode's start or the step before, as decodeSteps.c names them. */
function split(decode: Call, steps: Call[]): Record<string, number> | undefined {
  const end = decode.at + decode.ms;
  const inside = steps.filter((s) => s.at >= decode.at && s.at <= end);
  const one = (what: string): Call | undefined => inside.find((s) => s.what === what);
  const [reset, alloc, compute, wait, upload] = ["reset", "alloc", "compute", "wait", "upload"].map(one);
  if (!reset || !alloc || !compute) return undefined;
  const computeEnd = compute.at + compute.ms;
  return {
    "batch and slot": reset.at - decode.at,
    graph: alloc.at + alloc.ms - reset.at,
    inputs: compute.at - (alloc.at + alloc.ms),
    wait: wait?.ms ?? 0,
    upload: upload?.ms ?? 0,
    "upload MiB": (upload?.outputs ?? 0) / 1024,
    queue: compute.ms - (wait?.ms ?? 0) - (upload?.ms ?? 0),
    after: end - computeEnd,
  };
}

function printSteps(label: string, splits: Record<string, number>[]): void {
  if (!splits.length) return;
  const keys = Object.keys(splits[0]!);
  const at = (i: number): string => keys.map((k) => `${k} ${splits[i]![k]!.toFixed(2)}`).join(", ");
  console.log(`  ${label} (${splits.length}), mean: ${keys.map((k) => `${k} ${mean(splits.map((s) => s[k]!)).toFixed(2)}`).join(", ")}`);
  console.log(`    first: ${at(0)}`);
  console.log(`    last:  ${at(splits.length - 1)}`);
}

for (const [way, { calls, steps }] of runs) {
  if (!calls.length) continue;
  const span = calls.at(-1)!.at + calls.at(-1)!.ms - calls[0]!.at;
  const inside = (what: string): number => calls.filter((c) => c.what === what).reduce((n, c) => n + c.ms, 0);
  const decodes = inside("decode");
  const reads = inside("read");
  // After each read that waited (the first of a sample's reads), until the next decode: the CPU's turn.
  const stops: { gap: number; next: number; nextTokens: number; decode: Call }[] = [];
  for (let i = 0; i < calls.length; i++) {
    if (calls[i]!.what !== "read" || calls[i - 1]?.what === "read") continue;
    // A read's decode, not a prefill (the run's closing read), says nothing of what a stop costs.
    const j = calls.findIndex((c, k) => k > i && c.what === "decode");
    if (j < 0 || calls[j]!.outputs > 0) continue;
    const before = calls[j - 1]!;
    stops.push({ gap: calls[j]!.at - (before.at + before.ms), next: calls[j]!.ms, nextTokens: calls[j]!.tokens, decode: calls[j]! });
  }
  // A small decode (a prompt, a read's token) right after a large one, and after another small one.
  const afterLarge: number[] = [];
  const afterSmall: number[] = [];
  const steady: Call[] = [];
  let previous: Call | undefined;
  for (const c of calls) {
    if (c.what !== "decode") {
      previous = undefined;
      continue;
    }
    if (previous && c.tokens < SMALL) (previous.tokens >= SMALL ? afterLarge : afterSmall).push(c.ms);
    if (previous && previous.tokens >= SMALL && c.tokens >= SMALL) steady.push(c);
    previous = c;
  }
  console.log(`${way.padEnd(8)} ${f(span)} ms: decodes ${f(decodes)}, reads ${f(reads)}, between ${f(span - decodes - reads)}` +
    (afterLarge.length ? `; a small decode after a large one ${f(mean(afterLarge))} ms (${afterLarge.length})` : "") +
    (afterSmall.length ? `, after a small one ${f(mean(afterSmall))} ms (${afterSmall.length})` : "") +
    (stops.length ? `; after a read (${stops.length}): ${f(mean(stops.map((s) => s.gap)))} ms to the next decode, which takes ${f(mean(stops.map((s) => s.next)))} ms (${Math.round(mean(stops.map((s) => s.nextTokens)))} tokens)` : ""));
  if (!steps.length) continue;
  const splits = (list: Call[]): Record<string, number>[] => list.map((d) => split(d, steps)).filter((s): s is Record<string, number> => s !== undefined);
  printSteps("a large decode after a read (the GPU idle)", splits(stops.filter((s) => s.nextTokens >= SMALL).map((s) => s.decode)));
  printSteps("a large decode after a large one (the GPU busy)", splits(steady));
}
