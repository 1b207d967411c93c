// The phrases both hosts (the CLI and the view) use for what a run costs, covers and why it reads
// in its order, so that a user reads the same words in the terminal and in VS Code.
import type { Coverage } from "../core/wim/events";
import type { PlanEstimate, PlanSummary } from "./engineProtocol";

/** "2–7 min", "40 s–3 min": a range read at a glance. */
export function formatRange(lowSeconds: number, highSeconds: number): string {
  const one = (s: number): string => (s < 90 ? `${Math.round(s)} s` : s < 5400 ? `${Math.round(s / 60)} min` : `${(s / 3600).toFixed(1)} h`);
  const a = one(lowSeconds);
  const b = one(highSeconds);
  if (a === b) return `about ${a}`;
  const unit = (x: string): string => x.replace(/^[\d.]+ /, "");
  return unit(a) === unit(b) ? `${a.replace(/ .*$/, "")}–${b}` : `${a}–${b}`;
}

/** "3 windows, 2–7 min (estimated from the model's size, on the CPU)". */
export function describeEstimate(e: PlanEstimate): string {
  const basis = e.basis === "measured" ? `from this machine's last run, on ${e.where}` : `first run: estimated from the model's size, on ${e.where === "gpu" ? "a GPU" : "the CPU"}`;
  return `${e.windows === 1 ? "one window" : `${e.windows.toLocaleString("en-US")} windows`}, ${formatRange(e.lowSeconds, e.highSeconds)} (${basis})`;
}

/** "binary 184, generated 1,547": what was skipped, by reason. */
export function describeSkipped(byReason: Readonly<Record<string, number>>): string {
  return Object.entries(byReason).map(([reason, n]) => `${reason} ${n.toLocaleString("en-US")}`).join(", ");
}

/** "read 3 files not in UTF-8: windows-1252 2, utf-16le 1", or "" when every file was UTF-8. */
export function describeDecoded(byEncoding: Readonly<Record<string, number>> | undefined): string {
  const entries = Object.entries(byEncoding ?? {});
  const n = entries.reduce((sum, [, count]) => sum + count, 0);
  if (!n) return "";
  return `read ${n.toLocaleString("en-US")} ${n === 1 ? "file" : "files"} not in UTF-8: ${describeSkipped(byEncoding!)}`;
}

/** "read 2 files with unsaved changes as their editors hold them", or "" when none. With `paths`, names them. */
export function describeUnsaved(unsaved: readonly string[] | undefined, paths = false): string {
  const n = unsaved?.length ?? 0;
  if (!n) return "";
  const which = paths ? `: ${unsaved!.join(", ")}` : "";
  return n === 1 ? `read 1 file with unsaved changes as its editor holds it${which}` : `read ${n.toLocaleString("en-US")} files with unsaved changes as their editors hold them${which}`;
}

/** "read only the first lines of 2 large data files", or "" when none. With `paths`, names them. */
export function describeDataHeads(heads: readonly string[] | undefined, paths = false): string {
  const n = heads?.length ?? 0;
  if (!n) return "";
  return `read only the first lines of ${n === 1 ? "1 large data file" : `${n.toLocaleString("en-US")} large data files`}${paths ? `: ${heads!.join(", ")}` : ""}`;
}

/**
 * How files were read other than as plain UTF-8 from disk, a phrase each: not in UTF-8, from an
 * editor's unsaved text, only a data file's first lines. With `paths`, the last two name their files.
 */
export function readNotes(summary: Pick<PlanSummary, "decodedByEncoding" | "unsaved" | "dataHeads">, paths = false): string[] {
  return [describeDecoded(summary.decodedByEncoding), describeUnsaved(summary.unsaved, paths), describeDataHeads(summary.dataHeads, paths)].filter(Boolean);
}

/** "212 files, 48,310 tokens · skipped 40: binary 30, tool-folder 2 · read 3 files not in UTF-8: windows-1252 3 · read 1 file with unsaved changes as its editor holds it". */
export function describeRead(summary: PlanSummary): string {
  const n = (x: number): string => x.toLocaleString("en-US");
  return [
    `${n(summary.files)} ${summary.files === 1 ? "file" : "files"}, ${n(summary.tokens)} tokens`,
    ...(summary.skipped ? [`skipped ${n(summary.skipped)}: ${describeSkipped(summary.skippedByReason)}`] : []),
    ...readNotes(summary),
  ].join(" · ");
}

/** Why the files are read in this order. */
export function describeOrder(order: PlanSummary["order"]): string {
  if (!order || order.by === "path") return "read in path order";
  return `likeliest window first: ${order.matched.toLocaleString("en-US")} files match ${order.leading.map((t) => `\`${t}\``).join(", ")}`;
}


/** "from 17 of 247 segments (7% of the tokens)"; "from all 12 segments" when every one was read. */
export function describeCoverage(c: Coverage): string {
  if (c.segments >= c.ofSegments) return `from all ${c.ofSegments.toLocaleString("en-US")} segments`;
  const share = c.ofTokens > 0 ? (100 * c.tokens) / c.ofTokens : 0;
  const pct = share > 0 && share < 1 ? "<1" : String(Math.round(share));
  return `from ${c.segments.toLocaleString("en-US")} of ${c.ofSegments.toLocaleString("en-US")} segments (${pct}% of the tokens)`;
}
