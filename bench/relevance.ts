// npm run bench:relevance -- DIR [--questions N] [--seed S] [--segment-tokens N] [--context N]
// Where the file that answers a question is read: path order against the likeliest window first
// (the files keep their path order, so each window its contents; the window holding the file that
// scores best is read first, then the next), with no model. DIR is a real repository (bench/make-repo.sh builds one: Python's and Perl's
// libraries). The questions name an identifier defined in exactly one file of it (a top-level
// Python `def`/`class` or a Perl `sub`) that some other file uses, in varied wording; for each, the
// position of the defining file's first segment (1-based) and the share of the codebase's tokens
// read up to and including it, in both orders. Prints each order's median and 90th percentile,
// and their ratios. Tokens are counted at 3.5 characters each (no vocabulary needed): positions
// are shares, which that scale does not change much. Windows are laid out for a context of
// --context tokens with the run's default margins and answer, and a typical opening and prompt.
import { parseArgs } from "node:util";
import { resolve } from "node:path";
import { planCodebase, type CodebasePlan } from "../src/core/plan";
import { DEFAULT_ANSWER_TOKENS, DEFAULT_MARGIN_TOKENS } from "../src/core/wim/session";
import { layoutReading, readingOrder } from "../src/core/wim/layout";
import { rng } from "../test/support/testModel";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { questions: { type: "string", default: "60" }, seed: { type: "string", default: "7" }, "segment-tokens": { type: "string", default: "4096" }, context: { type: "string", default: "32768" } },
});
const dir = positionals[0] && resolve(positionals[0]);
if (!dir) throw new Error("usage: npm run bench:relevance -- DIR [--questions N] [--seed S]");

const WORDINGS = [
  (x: string) => `Where is \`${x}\` defined and what calls it?`,
  (x: string) => `What does ${x} do?`,
  (x: string) => `How is ${x} used, and what does it return?`,
  (x: string) => `Explain the ${x} function.`,
  (x: string) => `Which code calls ${x} and why?`,
  (x: string) => `I see ${x} in a traceback. What is it for?`,
];

const quantile = (xs: number[], q: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))]!;
};

/** Identifiers defined in exactly one file and used in at least one other, with their file. */
function pickIdentifiers(files: { path: string; text: string }[]): { name: string; path: string }[] {
  const defined = new Map<string, Set<string>>();
  for (const f of files) {
    const pattern = f.path.endsWith(".py") ? /^(?:def|class)\s+([A-Za-z_]\w{5,})/gm : /\.p[lm]$/.test(f.path) ? /^sub\s+([A-Za-z_]\w{5,})/gm : undefined;
    if (!pattern) continue;
    for (const m of f.text.matchAll(pattern)) {
      const name = m[1]!;
      if (name.startsWith("_") || /^test/i.test(name)) continue;
      (defined.get(name) ?? defined.set(name, new Set()).get(name)!).add(f.path);
    }
  }
  const picked: { name: string; path: string }[] = [];
  for (const [name, where] of defined) {
    if (where.size !== 1) continue;
    const path = [...where][0]!;
    const users = files.filter((f) => f.path !== path && f.text.includes(name)).length;
    if (users >= 1 && users <= 40) picked.push({ name, path });
  }
  return picked.sort((a, b) => (a.name < b.name ? -1 : 1));
}

/** The windows a run lays the plan out in: a typical opening and extractive prompt (the layout rounds the prompt's room up anyway). */
function windowsOf(plan: CodebasePlan): number[] {
  const layout = layoutReading({
    sizes: plan.outline.map((o) => o.tokens), contextLimit: Number(values.context), opening: 60, extract: 80,
    marginTokens: DEFAULT_MARGIN_TOKENS, answerFixed: 80, answerTokens: DEFAULT_ANSWER_TOKENS, perMargin: DEFAULT_MARGIN_TOKENS + 12,
  });
  if (!("windows" in layout)) throw new Error(`a segment does not fit a ${values.context}-token context`);
  return layout.windows;
}

/** Where the file's first segment comes when the segments are read in `order` (indices into the plan's): 1-based, and the share of the tokens read by then. */
function position(plan: CodebasePlan, path: string, order: readonly number[]): { segment: number; share: number } {
  const outline = plan.outline;
  let tokens = 0;
  for (const [i, k] of order.entries()) {
    tokens += outline[k]!.tokens;
    if (outline[k]!.sources.some((s) => s.path === path)) return { segment: i + 1, share: tokens / plan.totalTokens };
  }
  throw new Error(`${path} is not in the plan`);
}

async function main(): Promise<void> {
  const started = performance.now();
  const plan = await planCodebase([dir!], { segmentTokens: Number(values["segment-tokens"]), countTokens: (t) => Math.ceil(t.length / 3.5) });
  const files = plan.files.map((f) => ({ path: f.path, text: plan.fileText(f.path) ?? "" }));
  console.log(`${dir}: ${plan.files.length.toLocaleString("en-US")} files, ~${plan.totalTokens.toLocaleString("en-US")} tokens in ${plan.segmentCount} segments (planned in ${((performance.now() - started) / 1000).toFixed(1)} s)`);
  const candidates = pickIdentifiers(files);
  const next = rng(Number(values.seed));
  const count = Math.min(Number(values.questions), candidates.length);
  const chosen: typeof candidates = [];
  const pool = [...candidates];
  while (chosen.length < count) chosen.push(pool.splice(Math.floor(next() * pool.length), 1)[0]!);
  const windows = windowsOf(plan);
  const pathOrder = windows.map((_, k) => k);
  const rows: { path: { segment: number; share: number }; relevance: { segment: number; share: number }; firstWindow: boolean; ms: number }[] = [];
  for (const [i, c] of chosen.entries()) {
    const question = WORDINGS[i % WORDINGS.length]!(c.name);
    const t = performance.now();
    plan.readFirstFor(question);
    const placed = readingOrder(windows, plan.segmentScores);
    const ms = performance.now() - t;
    const relevance = position(plan, c.path, placed.order);
    rows.push({ path: position(plan, c.path, pathOrder), relevance, firstWindow: placed.windows[relevance.segment - 1] === 0, ms });
  }
  console.log(`${new Set(windows).size} windows of a ${Number(values.context).toLocaleString("en-US")}-token context; ${rows.length} questions from ${candidates.length.toLocaleString("en-US")} identifiers defined in one file (seed ${values.seed})`);
  const line = (label: string, pick: (r: (typeof rows)[number]) => { segment: number; share: number }): { seg: number[]; share: number[] } => {
    const seg = rows.map((r) => pick(r).segment);
    const share = rows.map((r) => pick(r).share);
    console.log(`${label.padEnd(16)} segment median ${String(quantile(seg, 0.5)).padStart(4)}  p90 ${String(quantile(seg, 0.9)).padStart(4)}   share of tokens read median ${(100 * quantile(share, 0.5)).toFixed(2).padStart(6)}%  p90 ${(100 * quantile(share, 0.9)).toFixed(2).padStart(6)}%`);
    return { seg, share };
  };
  const a = line("path order", (r) => r.path);
  const b = line("likeliest window", (r) => r.relevance);
  const firstWindow = rows.filter((r) => r.firstWindow).length;
  console.log(`ratio (relevance / path): median share ${(quantile(b.share, 0.5) / quantile(a.share, 0.5)).toFixed(3)}, p90 share ${(quantile(b.share, 0.9) / quantile(a.share, 0.9)).toFixed(3)}`);
  console.log(`defining file in the first window read: ${firstWindow} of ${rows.length}; ranking took median ${quantile(rows.map((r) => r.ms), 0.5).toFixed(0)} ms per question`);
}

void main();
