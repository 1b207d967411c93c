// The "Ask codebase" output channel (a LogOutputChannel): each run's settings, backend, plan,
// timings and the engine's own stderr, so a user can read what happened and paste it into a
// report. Reading the settings' problems here too means they are said once, not per question.
import * as vscode from "vscode";
import type { WimEvent } from "../core/wim/events";
import type { PlanSummary, RunSettings } from "../shared/engineProtocol";
import { describeSkipped, readNotes } from "../shared/describe";

export class RunLog implements vscode.Disposable {
  readonly channel = vscode.window.createOutputChannel("Ask codebase", { log: true });
  private readonly said = new Set<string>();

  /** A problem with the settings, logged once per session however often it is met. */
  settingProblem(text: string): void {
    if (this.said.has(text)) return;
    this.said.add(text);
    this.channel.warn(text);
  }

  asked(runId: string, question: string, roots: string[], settings: RunSettings): void {
    const { serverApiKey, ...shown } = settings;
    this.channel.info(`run ${runId}: ${JSON.stringify(question)} about ${roots.join(", ")}`);
    this.channel.info(`settings: ${JSON.stringify({ ...shown, ...(serverApiKey ? { serverApiKey: "(set)" } : {}) })}`);
  }

  planned(summary: PlanSummary, ms: number): void {
    const skipped = describeSkipped(summary.skippedByReason);
    const notes = readNotes(summary, true).map((note) => `; ${note}`).join("");
    this.channel.info(`plan ${summary.planId} in ${(ms / 1000).toFixed(1)} s: ${summary.files} files, ${summary.tokens} tokens, ${summary.segments} segments, model ${summary.model} (context ${summary.contextSize}); listed by ${summary.listing}${skipped ? `; skipped: ${skipped}` : ""}${notes}`);
  }

  event(e: WimEvent): void {
    switch (e.type) {
      case "run-started":
        this.channel.info(`reading with ${e.model} on ${e.backend}${e.gpuNames.length ? ` (${e.gpuNames.join(", ")})` : ""}: ${e.segments} segments in ${e.windows} window(s), context ${e.contextSize}, ${e.reusedSegments} from the warm cache${e.backendNote ? `; ${e.backendNote}` : ""}${e.addonShim === false ? "; without the addon shim (slower: see the README)" : ""}`);
        if (e.changed?.length || e.removed?.length) this.channel.info(`since the plan: ${e.changed?.length ?? 0} files changed (read again), ${e.removed?.length ?? 0} gone`);
        return;
      case "window-started":
        this.channel.info(`window ${e.window + 1} of ${e.windows} from segment ${e.firstSegment + 1}`);
        return;
      case "answer-started":
        this.channel.info(`answering from margins ${e.marginIds.map((m) => m + 1).join(", ") || "(none)"}; prompt ${e.promptTokens} tokens`);
        return;
      case "done": {
        const t = e.timings;
        this.channel.info(`${e.stoppedBy}: ${e.segmentsRead} segments in ${(t.totalMs / 1000).toFixed(1)} s (prefill ${(t.prefillMs / 1000).toFixed(1)}, margins ${(t.marginMs / 1000).toFixed(1)}, classify ${(t.classifyMs / 1000).toFixed(1)}, answer ${(t.answerMs / 1000).toFixed(1)}); tokens ${JSON.stringify(e.tokens)}`);
        return;
      }
      case "cache-saved":
        if (e.error) this.channel.warn(`not cached: ${e.error}`);
        else this.channel.info(`cached ${e.segments} segments (${e.bytes} bytes); the cache holds ${e.entries} (${e.totalBytes} of ${e.limitBytes} bytes)`);
        return;
      case "error":
        this.channel.error(`run ${e.runId}: ${e.message}`);
        return;
      default:
        return;
    }
  }

  engineOutput(text: string): void {
    // llama.cpp logs errors only (LlamaLogLevel.error): what reaches stderr is worth seeing.
    for (const line of text.split("\n")) if (line.trim()) this.channel.warn(`engine: ${line}`);
  }

  dispose(): void {
    this.channel.dispose();
  }
}
