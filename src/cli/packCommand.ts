// `ask-codebase pack DIR --model FILE`: what a question would read, before any model runs.
import { parseArgs } from "node:util";
import type { CodebasePlan } from "../core/plan";
import { openTokenizer } from "../engine/tokens/tokenizer";
import { resolveModel } from "../engine/model/modelResolve";
import { folder, modelSpec } from "./args";
import { reveal } from "../core/reveal";
import { bytes, int } from "./format";
import { planScope, SCOPE_OPTIONS, segmentTokensOf } from "./scope";

export async function packCommand(argv: string[]): Promise<void> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      model: { type: "string" },
      ...SCOPE_OPTIONS,
      json: { type: "boolean" },
    },
  });
  const root = await folder(positionals[0]);
  segmentTokensOf(values); // a bad --segment-tokens fails now, before any model loads
  const tokenizer = await openTokenizer(await resolveModel(modelSpec(values.model)), { countOnly: true });
  try {
    const plan = await planScope(root, values, tokenizer);
    process.stdout.write(values.json ? JSON.stringify(planJson(plan)) + "\n" : reveal(planText(plan)));
  } finally {
    await tokenizer.dispose();
  }
}

export function planJson(plan: CodebasePlan): object {
  return {
    roots: plan.roots,
    files: plan.files.map((f) => ({ path: f.path, lines: f.lines, bytes: f.bytes, tokens: f.tokens })),
    segments: plan.outline,
    skipped: plan.skipped,
    skippedByReason: plan.skippedByReason,
    totalTokens: plan.totalTokens,
    segmentTokens: plan.segmentTokens,
  };
}

export function planText(plan: CodebasePlan): string {
  const lines = [
    `${plan.roots.join(", ")}`,
    `  ${int(plan.files.length)} files, ${bytes(plan.bytes)}, ${int(plan.totalTokens)} tokens in ${int(plan.segmentCount)} segments of at most ${int(plan.segmentTokens)} tokens`,
  ];
  const reasons = Object.entries(plan.skippedByReason);
  if (reasons.length) lines.push(`  skipped ${int(plan.skipped.length)}: ${reasons.map(([r, n]) => `${r} ${int(n)}`).join(", ")}`);
  const largest = [...plan.files].sort((a, b) => b.tokens - a.tokens).slice(0, 5);
  if (largest.length) {
    lines.push("  largest files:");
    for (const f of largest) lines.push(`    ${int(f.tokens).padStart(9)} tokens  ${f.path}`);
  }
  return lines.join("\n") + "\n";
}
