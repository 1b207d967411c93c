// How a run looks in a terminal: a progress line on stderr, margins and the answer on stdout.
import type { WimEvent } from "../core/wim/events";
import type { PlanProgress } from "../shared/engineProtocol";
import { reveal } from "../core/reveal";
import { describeCoverage } from "../shared/describe";
import { sourceLabel } from "../shared/lines";
import { OPTIONS } from "../shared/settings";
import { formatBytes } from "../core/bytes";
import { int, seconds } from "./format";

const share = (c: { promptTokens: number; cachedTokens: number }): string => `${Math.round((100 * c.cachedTokens) / Math.max(1, c.promptTokens))}%`;

export interface Output { write(text: string): void; isTTY?: boolean }

export class TerminalRenderer {
  private progressShown = false;
  private lastPlainProgress = 0;
  /** The first margin judged relevant with confidence: the progress line offers to answer now. */
  private likely?: number;

  constructor(private readonly out: Output, private readonly err: Output) {}

  handle(e: WimEvent): void {
    switch (e.type) {
      case "run-started":
        this.likely = undefined;
        this.err.write(`reading ${int(e.files)} files, ${int(e.tokens)} tokens in ${int(e.segments)} segments${e.windows > 1 ? ` (${e.windows} windows of ${int(e.windowTokens)} tokens)` : ""} with ${reveal(e.model)} on ${e.backend}${e.gpuNames.length ? ` (${e.gpuNames.join(", ")})` : ""}\n`);
        if (e.backendNote) this.err.write(`note: ${reveal(e.backendNote)}\n`);
        if (e.cacheNote) this.err.write(`note: ${reveal(e.cacheNote)}\n`);
        if (e.changed?.length) this.err.write(`read again, changed since the plan: ${reveal(e.changed.join(", "))}\n`);
        if (e.removed?.length) this.err.write(`left out, gone since the plan: ${reveal(e.removed.join(", "))}\n`);
        if (e.reusedSegments) this.err.write(`warm cache: ${e.reusedSegments} of ${e.segments} segments already read; their margins are written again from the cache\n`);
        break;
      case "window-started":
        this.note(`window ${e.window + 1} of ${e.windows} (the codebase is larger than the context: the cache is cleared, margins are kept)`);
        break;
      case "segment-progress":
        this.progress(e);
        break;
      case "margin-token":
        break;
      case "margin-done": {
        this.clearProgress();
        const where = reveal(e.sources.map((s) => sourceLabel(s.path, s.startLine, s.endLine)).join(", "));
        this.out.write(`\n── margin ${e.segment + 1}${e.partial ? " (stopped early)" : ""} ── ${where}\n${reveal(e.text.trim()) || "(empty)"}\n`);
        if (e.citations.length) this.out.write(`   cites: ${reveal(e.citations.map((c) => sourceLabel(c.path, c.line, c.endLine)).join(", "))}\n`);
        break;
      }
      case "margin-classified":
        if (!e.relevant) this.out.write(`   (margin ${e.segment + 1} judged not relevant: left out of the answer)\n`);
        else if (e.confident) {
          this.out.write(`   ✱ margin ${e.segment + 1} likely holds the answer (yes at ${Math.round(e.score * 100)}%)\n`);
          this.likely ??= e.segment;
        }
        break;
      case "kept-changed":
        break;
      case "answer-started":
        this.clearProgress();
        for (const d of e.dropped) this.err.write(`margin ${d.segment + 1} dropped from the answer: ${reveal(d.reason)}\n`);
        if (e.codebaseCut) this.err.write(`the answer sees the first ${e.codebaseCut.kept} of the last window's ${e.codebaseCut.of} segments (the rest through their margins): room for the notes\n`);
        this.out.write(`\n── answer (from ${e.marginIds.length} margins) ──\n`);
        break;
      case "answer-token":
        this.out.write(reveal(e.text));
        break;
      case "done": {
        this.clearProgress();
        const t = e.timings;
        this.out.write("\n");
        this.err.write(
          `${e.stoppedBy === "finished" ? "done" : e.stoppedBy === "answer-now" ? "answered early" : "stopped"}: ` +
          `${e.segmentsRead} segments read in ${seconds(t.totalMs / 1000)} (prefill ${seconds(t.prefillMs / 1000)}, margins ${seconds(t.marginMs / 1000)}, answer ${seconds(t.answerMs / 1000)})\n`,
        );
        // What an early answer rests on: the share of the codebase it saw.
        if (e.answer && e.coverage.segments < e.coverage.ofSegments) this.err.write(`the answer is ${describeCoverage(e.coverage)}\n`);
        if (e.serverCache) {
          this.err.write(`server: ${int(e.serverCache.promptTokens)} prompt tokens sent, ${int(e.serverCache.cachedTokens)} (${share(e.serverCache)}) served from its prefix cache\n`);
        }
        break;
      }
      case "cache-saved":
        this.err.write(e.error
          ? `could not cache the codebase for the next question: ${e.error}\n`
          : e.bytes
            ? `cached ${e.segments} segments (${formatBytes(e.bytes)}) for the next question; the cache holds ${e.entries} (${formatBytes(e.totalBytes)} of ${formatBytes(e.limitBytes)})\n`
            : `the codebase's state is larger than the cache limit (${formatBytes(e.limitBytes)}): not cached\n`);
        break;
      case "error":
        this.clearProgress();
        this.err.write(`ask-codebase: ${reveal(e.message)}${e.setting ? ` (${flagOf(e.setting)})` : ""}\n`);
        break;
      default: {
        const never: never = e;
        throw new Error(`unhandled event ${JSON.stringify(never)}`);
      }
    }
  }

  note(text: string): void {
    this.clearProgress();
    this.err.write(reveal(text) + "\n");
  }

  /** A line that the next replaces (downloading, planning): overwritten on a terminal, every 2 s otherwise. */
  status(text: string): void {
    if (this.err.isTTY) {
      this.err.write(`\r\x1b[2K${reveal(text)}`);
      this.progressShown = true;
    } else if (performance.now() - this.lastPlainProgress > 2000) {
      this.lastPlainProgress = performance.now();
      this.err.write(reveal(text) + "\n");
    }
  }

  private progress(e: Extract<WimEvent, { type: "segment-progress" }>): void {
    const line = `${e.windows > 1 ? `window ${e.window + 1}/${e.windows}  ` : ""}segment ${e.segment + 1}/${e.segments}  ${int(e.tokensRead)}/${int(e.totalTokens)} tokens  ${int(e.tokensPerSecond)} tok/s  ~${seconds(e.etaSeconds)} left${e.serverCache ? `  server cache ${share(e.serverCache)}` : ""}${this.likely !== undefined ? `  ✱ answer likely in margin ${this.likely + 1}: Ctrl-C answers now` : ""}`;
    if (this.err.isTTY) {
      const width = 24;
      const filled = Math.round((e.tokensRead / Math.max(1, e.totalTokens)) * width);
      this.err.write(`\r\x1b[2K[${"#".repeat(filled)}${".".repeat(width - filled)}] ${line}`);
      this.progressShown = true;
    } else if (performance.now() - this.lastPlainProgress > 2000 || e.segment + 1 === e.segments) {
      this.lastPlainProgress = performance.now();
      this.err.write(line + "\n");
    }
  }

  /** Takes a status or progress line off the terminal before other output. */
  clear(): void {
    this.clearProgress();
  }

  private clearProgress(): void {
    if (this.progressShown) this.err.write("\r\x1b[2K");
    this.progressShown = false;
  }
}

/** The flag that changes a setting the engine named as the cause of an error. */
export function flagOf(setting: string): string {
  const spec = (OPTIONS as Record<string, { flag?: string }>)[setting];
  return spec?.flag ? `change --${spec.flag}` : `change the ${setting} setting`;
}

/** Where planning is, in a line. */
export function progressLine(p: PlanProgress): string {
  switch (p.stage) {
    case "downloading": return `downloading the model: ${formatBytes(p.downloaded ?? 0)}${p.total ? ` of ${formatBytes(p.total)}` : ""}`;
    case "reading": return p.files ? `reading: ${int(p.files)} of ${int(p.seen ?? 0)} files, ${formatBytes(p.bytes ?? 0)}` : `listing the folder: ${int(p.seen ?? 0)} files found`;
    case "tokenizing": return `tokenizing ${formatBytes(p.bytes ?? 0)} of text`;
  }
}
