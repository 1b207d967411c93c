// Judging margins relevant or not. Two ways, both with the reading model itself:
// - "fused": the extractive prompt asks the margin to open with yes or no. The verdict is read
//   from the next-token probabilities the prompt's evaluation yields anyway; an irrelevant margin
//   stops right there (no token decoded), a relevant one goes on after the verdict word. On a GPU,
//   where decoding margins is what WiM costs, this is the cheapest path.
// - "separate": a second sequence that sees only the question and the finished margin, queued in
//   the same tick as the next segment's prefill so both share decode batches.
import type { Token, WimEngine } from "./engine";
import * as prompts from "./prompts";

export type ClassifyMode = "fused" | "separate" | "off";
export const CLASSIFY_MODES: readonly ClassifyMode[] = ["fused", "separate", "off"];

/**
 * `yes` and `no`: the first tokens of the verdict words in their usual spellings, as they follow
 * the assistant's opening; `yesWords[i]`: the whole spelling that `yes[i]` begins. A vocabulary may
 * split the word ("y" + "es"), and the first token is all the verdict reads.
 */
export interface VerdictTokens { yes: Token[]; no: Token[]; yesWords: Token[][] }

export function verdictTokens(engine: WimEngine): VerdictTokens {
  const yesWords: Token[][] = [];
  for (const word of prompts.VERDICT_WORDS.yes) {
    const tokens = engine.tokenizeText(word);
    if (tokens.length && !yesWords.some((w) => w[0] === tokens[0])) yesWords.push(tokens);
  }
  const yes = yesWords.map((w) => w[0]!);
  const no = [...new Set(prompts.VERDICT_WORDS.no.map((w) => engine.tokenizeText(w)[0]!).filter((t) => t !== undefined && !yes.includes(t)))];
  return { yes, no, yesWords };
}

/** The most tokens a "yes" spelling takes: what a relevant fused margin adds to its prompt. */
export function longestYes(v: VerdictTokens): number {
  return Math.max(1, ...v.yesWords.map((w) => w.length));
}

/** The candidates in the order `score` expects them. */
export function candidates(v: VerdictTokens): Token[] {
  return [...v.yes, ...v.no];
}

/** P(yes) / (P(yes) + P(no)) from the candidates' probabilities; 0.5 when the model gives neither any weight. */
export function score(v: VerdictTokens, probabilities: readonly number[]): number {
  const yes = probabilities.slice(0, v.yes.length).reduce((a, b) => a + b, 0);
  const no = probabilities.slice(v.yes.length).reduce((a, b) => a + b, 0);
  return yes + no > 0 ? yes / (yes + no) : 0.5;
}

/**
 * The likeliest spelling of "yes", whole: a relevant fused margin continues after the word, so
 * none of it shows in the margin (continuing from a first token "y" showed margins as "es: ...").
 */
export function likeliestYes(v: VerdictTokens, probabilities: readonly number[]): Token[] {
  let best = 0;
  for (let i = 1; i < v.yes.length; i++) if (probabilities[i]! > probabilities[best]!) best = i;
  return v.yesWords[best]!;
}

/**
 * A relevant verdict this sure says the answer may well be in the margin: the view and the CLI
 * offer to answer now. (With a trained model "yes" at 0.9 or more is rare for a segment that
 * merely mentions the subject.)
 */
export const CONFIDENT = 0.9;

/** The default judge: relevant when yes is at least as likely as no. */
export function byScore(_segment: number, s: number): boolean {
  return s >= 0.5;
}

/** After "yes" a model writes ", the function..." or ": ...": the margin shows from its first word. */
export const VERDICT_SEPARATOR = /^[\s,.:;!-]+/;
