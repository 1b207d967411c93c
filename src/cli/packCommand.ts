// `ask-codebase pack DIR`: what a question would read, before any model runs. It plans in this
// process through the pipeline's planCodebaseFor: only the model's vocabulary is read, and with a
// SentencePiece vocabulary no native code loads.
import type { CodebasePlan } from "../core/plan";
import { reveal } from "../core/reveal";
import { describeListings } from "../core/workspace/listing";
import { describeDataHeads, describeDecoded, describeSkipped } from "../shared/describe";
import { planCodebaseFor } from "../engine/pipeline";
import { ModelFileError } from "../engine/model/modelFile";
import { folder, parseFlags, runSettingsOf, settingsOf, UsageError, WorkFailed } from "./args";
import { formatBytes } from "../core/bytes";
import { int } from "./format";
import { progressLine, TerminalRenderer } from "./render";
import { folderView } from "./folderView";

export async function packCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, { json: { type: "boolean" } });
  const root = await folder(positionals[0]);
  // Progress on stderr (stdout stays the plan); Ctrl-C stops planning, a second one quits at once.
  const renderer = new TerminalRenderer(process.stdout, process.stderr);
  const controller = new AbortController();
  const onSigint = (): void => {
    if (controller.signal.aborted) process.exit(130);
    controller.abort();
  };
  process.on("SIGINT", onSigint);
  try {
    const settings = settingsOf(values);
    const editor = await folderView(root, settings.useExcludeSettings, (line) => renderer.note(line));
    const plan = await planCodebaseFor([root], runSettingsOf(settings, undefined), { signal: controller.signal, onProgress: (p) => renderer.status(progressLine(p)), ...(editor ? { editor } : {}) });
    renderer.clear();
    process.stdout.write(values.json ? JSON.stringify(planJson(plan)) + "\n" : reveal(planText(plan)));
    return 0;
  } catch (err) {
    if (controller.signal.aborted) return 130;
    if (err instanceof ModelFileError || err instanceof UsageError) throw err;
    throw new WorkFailed(`planning failed: ${(err as Error).message}`);
  } finally {
    process.off("SIGINT", onSigint);
  }
}

export function planJson(plan: CodebasePlan): object {
  const decodedOf = new Map(plan.decoded.map(({ path, ...d }) => [path, d]));
  const heads = new Set(plan.dataHeads);
  return {
    roots: plan.roots,
    files: plan.files.map((f) => ({ path: f.path, lines: f.lines, bytes: f.bytes, tokens: f.tokens, ...decodedOf.get(f.path), ...(heads.has(f.path) ? { head: true } : {}) })),
    segments: plan.outline,
    skipped: plan.skipped,
    skippedByReason: plan.skippedByReason,
    listings: plan.listings,
    totalTokens: plan.totalTokens,
    segmentTokens: plan.segmentTokens,
  };
}

export function planText(plan: CodebasePlan): string {
  const lines = [
    `${plan.roots.join(", ")}`,
    `  ${int(plan.files.length)} files, ${formatBytes(plan.bytes)}, ${int(plan.totalTokens)} tokens in ${int(plan.segmentCount)} segments of at most ${int(plan.segmentTokens)} tokens`,
  ];
  lines.push(`  listed by ${describeListings(plan.listings)}`);
  if (plan.skipped.length) lines.push(`  skipped ${int(plan.skipped.length)}: ${describeSkipped(plan.skippedByReason)}`);
  const decoded = describeDecoded(plan.decodedByEncoding);
  // The first five files, then how many more.
  const some = (paths: readonly string[]): string => `    ${paths.slice(0, 5).join(", ")}${paths.length > 5 ? `, and ${int(paths.length - 5)} more` : ""}`;
  if (decoded) lines.push(`  ${decoded}`, some(plan.decoded.map((d) => d.path)));
  const heads = plan.dataHeads;
  if (heads.length) lines.push(`  ${describeDataHeads(heads)}`, some(heads));
  const largest = [...plan.files].sort((a, b) => b.tokens - a.tokens).slice(0, 5);
  if (largest.length) {
    lines.push("  largest files:");
    for (const f of largest) lines.push(`    ${int(f.tokens).padStart(9)} tokens  ${f.path}`);
  }
  return lines.join("\n") + "\n";
}
