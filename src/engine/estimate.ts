// What a plan will cost before it runs: how many windows the reading takes (the run's own
// layout, with the prompts counted by the plan's tokenizer), and a time range. The range is from
// this machine's last finished runs of the same model where there are any, and otherwise from
// the model's size and where it runs. Its two ends are the two ways a margin goes: stopped after
// its first tokens (an irrelevant segment recognised) or written to its cap.
import { readFileSync, mkdirSync, writeFileSync, renameSync } from "node:fs";
import { cpus, hostname } from "node:os";
import { dirname } from "node:path";
import { layoutReading } from "../core/wim/layout";
import * as prompts from "../core/wim/prompts";
import type { WimEvent } from "../core/wim/events";
import type { PlanEstimate } from "../shared/engineProtocol";
import { speedFromSize, type Speed } from "../shared/speed";

export { speedFromSize, type Speed };

/** Chat template tokens around the system and user turns, which the plan's tokenizer does not know. */
const TEMPLATE_ALLOWANCE = 32;

/** The prompts' sizes for a question, as the run will lay them out (its chat template allowed for). */
export interface PromptSizes { opening: number; extract: number; answerFixed: number }

export function measurePrompts(question: string, count: (text: string) => number): PromptSizes {
  return {
    opening: count(prompts.READER_SYSTEM) + count(prompts.CODEBASE_INTRO) + TEMPLATE_ALLOWANCE,
    extract: count(prompts.fusedExtractivePrompt(question)) + TEMPLATE_ALLOWANCE,
    answerFixed: count(prompts.answerPrompt([], question)) + TEMPLATE_ALLOWANCE,
  };
}

export function planWindows(o: { sizes: readonly number[]; contextLength: number; prompts: PromptSizes; marginTokens: number; answerTokens: number }): number {
  if (!o.contextLength) return 1;
  const layout = layoutReading({
    sizes: o.sizes, contextLimit: o.contextLength, ...o.prompts, marginTokens: o.marginTokens, answerTokens: o.answerTokens, perMargin: o.marginTokens + 12,
  });
  // What does not fit is refused when the run lays itself out, naming the setting; here it is one window.
  return "windows" in layout ? layout.windowCount : 1;
}

/** The time a plan takes at a speed: margins cut short at one end, written in full at the other. */
export function estimateSeconds(o: { tokens: number; segments: number; windows: number; extractTokens: number; marginTokens: number; answerTokens: number; speed: Speed }): { low: number; high: number } {
  const prefill = (o.tokens + o.segments * o.extractTokens) / o.speed.prefillTokensPerSecond;
  const margins = (n: number): number => o.segments * n * o.speed.decodeSecondsPerToken;
  const answer = o.answerTokens * o.speed.decodeSecondsPerToken;
  return { low: prefill + margins(2) + answer / 4, high: prefill + margins(o.marginTokens) + answer };
}

/**
 * Measured speeds, per machine and model file, in the engine's own cache folder beside its
 * memory of backends. Only finished runs are kept: an early stop measures too little.
 */
export class SpeedMemory {
  constructor(readonly file: string, private readonly host = hostname()) {}

  private read(): Record<string, Speed> {
    try {
      const all = JSON.parse(readFileSync(this.file, "utf8"));
      return all && typeof all === "object" ? all : {};
    } catch {
      return {};
    }
  }

  private key(model: string): string {
    return `${this.host}|${model}`;
  }

  get(model: string): Speed | undefined {
    const s = this.read()[this.key(model)];
    return s && s.prefillTokensPerSecond > 0 && s.decodeSecondsPerToken > 0 ? s : undefined;
  }

  remember(model: string, backend: string, done: Extract<WimEvent, { type: "done" }>): void {
    if (done.stoppedBy !== "finished" || done.timings.prefillMs <= 0 || done.tokens.prefilled < 256) return;
    const decoded = done.tokens.margins + done.tokens.answer;
    const decodeMs = done.timings.marginMs + done.timings.answerMs;
    if (decoded <= 0 || decodeMs <= 0) return;
    const all = this.read();
    all[this.key(model)] = { prefillTokensPerSecond: done.tokens.prefilled / (done.timings.prefillMs / 1000), decodeSecondsPerToken: decodeMs / 1000 / decoded, backend };
    try {
      mkdirSync(dirname(this.file), { recursive: true });
      const temp = `${this.file}.${process.pid}.tmp`;
      writeFileSync(temp, JSON.stringify(all, null, 1));
      renameSync(temp, this.file);
    } catch {
      // A read-only cache folder: estimates stay from the model's size.
    }
  }
}

export function estimatePlan(o: {
  tokens: number; segments: number; windows: number; extractTokens: number; marginTokens: number; answerTokens: number;
  measured?: Speed; modelBytes: number; where: "cpu" | "gpu";
}): PlanEstimate {
  const speed = o.measured ?? speedFromSize(o.modelBytes, o.where, cpus().length);
  const { low, high } = estimateSeconds({ ...o, speed });
  // A size-based guess is a guess: its range is widened both ways.
  const [lo, hi] = o.measured ? [low * 0.8, high * 1.25] : [low * 0.5, high * 2];
  return { windows: o.windows, lowSeconds: Math.max(1, Math.round(lo)), highSeconds: Math.max(1, Math.round(hi)), basis: o.measured ? "measured" : "model-size", where: o.measured?.backend ?? o.where };
}
