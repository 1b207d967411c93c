// Training examples in the project's own prompts and chat template, token for token what a run
// feeds the model. One example is one codebase read as WiM reads it, flattened into a tree: the
// trunk (opening, then the segments), and branches that each see the trunk up to a point (a
// margin after segment k, the answers after the last) or nothing of it (the separate classifier's
// own conversation). Positions continue from where a branch leaves the trunk, as they do after
// the engine erases a margin, and the training script's attention mask follows the branches.
import { packFiles, type Segment } from "../../src/core/pack/packer";
import type { Token, WimEngine } from "../../src/core/wim/engine";
import * as prompts from "../../src/core/wim/prompts";
import { rng } from "../../test/support/testModel";
import { constantsIn, functionsIn, goldAnswer, goldMargins, makeTask, oneHop, returnQuestion, type Asked, type Placed, type Task } from "./task";

export type TextSide = Pick<WimEngine, "tokenizeText" | "chatParts" | "detokenize" | "isEndOfGeneration">;

/** Per token: id, position, branch (0 the trunk), whether it is learned and how much. */
export interface Example { tokens: number[]; positions: number[]; branches: number[]; weights: number[]; isolated: number[] }

/**
 * What loss each token carries: none, the codebase's own text (a little), a reply (fully), the
 * reply's looked-up part, a value or a line number (fully or more, and scored on its own: it is
 * the part a reader that only learned the replies' form gets wrong), and a margin's verdict, yes
 * or no (weighted like a lookup and scored apart, yes from no: a reader that always says no is
 * right about most segments and useless).
 */
export const WEIGHT = { none: 0, code: 1, reply: 2, lookup: 3, verdictYes: 4, verdictNo: 5 } as const;

export function packTask(text: TextSide, task: Task, segmentTokens: number): { segments: Segment[]; placed: Placed[] } {
  const files = task.files.map((f) => ({ ...f, bytes: Buffer.byteLength(f.text) }));
  const { segments } = packFiles(files, { segmentTokens, countTokens: (t) => text.tokenizeText(t).length, tokenize: (t) => Int32Array.from(text.tokenizeText(t)) });
  return { segments, placed: place(segments, task) };
}

/** The segment holding each line that answers `asked`. */
export function place(segments: readonly Segment[], asked: Asked): Placed[] {
  return [asked.definition, ...(asked.via ? [asked.via] : [])].map((fact) => ({
    fact, segment: segments.findIndex((s) => s.sources.some((p) => p.path === fact.path && p.startLine <= fact.line && fact.line <= p.endLine)),
  }));
}

class Builder {
  readonly ex: Example = { tokens: [], positions: [], branches: [], weights: [], isolated: [] };
  private nextBranch = 1;
  trunkEnd = 0;

  trunk(tokens: readonly Token[], weight: number): void {
    for (const t of tokens) this.push(t, this.trunkEnd++, 0, weight, 0);
  }

  /** A branch after the trunk as it stands now; `isolated` starts at position 0 and sees none of it. */
  branch(parts: readonly { tokens: readonly Token[]; weight: number }[], isolated = false): void {
    const b = this.nextBranch++;
    let pos = isolated ? 0 : this.trunkEnd;
    for (const p of parts) for (const t of p.tokens) this.push(t, pos++, b, p.weight, isolated ? 1 : 0);
  }

  private push(t: Token, pos: number, b: number, w: number, iso: number): void {
    this.ex.tokens.push(t); this.ex.positions.push(pos); this.ex.branches.push(b); this.ex.weights.push(w); this.ex.isolated.push(iso);
  }
}

/**
 * `extraQuestions`: plain questions about other constants and functions (default EXTRA_QUESTIONS);
 * `extraMargins`: margins per segment for such questions (default EXTRA_MARGINS).
 */
export interface ExampleOptions { seed: number; chars: number; segmentTokens: number; extraQuestions?: number; extraMargins?: number }

/**
 * Training codebases: 600 to 9,000 characters (about 0.3k to 5k tokens), most of them short (the
 * draw is squared): a short codebase carries as many questions as a long one in far fewer tokens,
 * and looking things up is learned there first. Segments of 256 to 1,024 tokens.
 */
export function trainingDraw(seed: number, maxChars = 9000, minChars = 600): { chars: number; segmentTokens: number } {
  const x = ((seed * 2654435761) >>> 0) / 2 ** 32;
  const y = ((seed * 2246822519 + 7) >>> 0) / 2 ** 32;
  return { chars: Math.round(minChars + x * x * (maxChars - minChars)), segmentTokens: [256, 512, 768, 1024][Math.floor(y * 4)]! };
}
/** The median of the training draw (2,700 characters, about 1.5k tokens): "1x the training length" for the benchmark. */
export const TRAINING_CHARS = 2700;
/**
 * Questions about other constants and functions of the same codebase, answered plainly: the
 * answer's value and path:line are the few tokens that teach looking things up, and a question
 * branch costs tens of tokens beside a codebase of thousands (measured: 1,700 steps without them
 * learned the answers' shape with made-up values).
 */
const EXTRA_QUESTIONS = 12;
/**
 * The task's own question is relevant to one segment or two of a codebase: its margins alone
 * taught "no" (runs 5-7: the fused "yes" came for 10% of relevant segments or fewer). After each
 * segment, margins for other questions of the same codebase, one the segment answers and one it
 * does not, make yes as common as no for a few hundred tokens a segment.
 */
const EXTRA_MARGINS = 2;

/**
 * One training example. Margins are fused or separate at random (each run uses one kind); some
 * examples are a later window: the first segments are not in the trunk, only their notes, so the
 * answer learns to take the value from a note when the codebase no longer holds it.
 */
export function buildExample(text: TextSide, o: ExampleOptions): { example: Example; task: Task } {
  const r = rng(o.seed ^ 0x5eed);
  const task = makeTask({ seed: o.seed, chars: o.chars });
  const { segments, placed } = packTask(text, task, o.segmentTokens);
  const laterWindow = segments.length >= 3 && r() < 0.3 ? 1 + Math.floor(r() * (segments.length - 1)) : 0;
  const windowOf = (k: number): number => (k < laterWindow ? 0 : 1);
  const gold = goldMargins(task, placed, segments.length, windowOf);
  const fused = r() < 0.6;
  const reader = text.chatParts(prompts.READER_SYSTEM);
  const tok = (s: string): Token[] => text.tokenizeText(s);
  const im_end = endOfTurn(text);
  const constants = constantsIn(task.files);
  const others: Asked[] = [
    ...constants.filter((c) => c.fact.text !== task.definition.text).map((c) => oneHop(r, c)),
    ...functionsIn(task.files).filter((f) => f.fact.text !== task.via?.text).map((f) => returnQuestion(r, f, constants)),
  ];
  const othersGold = others.map((q) => goldMargins(q, place(segments, q), segments.length, windowOf));
  const b = new Builder();
  b.trunk([...reader.prefix, ...tok(prompts.CODEBASE_INTRO)], WEIGHT.none);
  const classifier = text.chatParts(prompts.CLASSIFIER_SYSTEM);
  const classifierTail = [...tok(prompts.CLASSIFIER_TAIL), ...classifier.suffix];
  const margin = (question: string, note: string | undefined): void => {
    const extract = [...tok(fused ? prompts.fusedExtractivePrompt(question) : prompts.extractivePrompt(question)), ...reader.suffix];
    const reply = fused ? (note ? `yes: ${note}` : "no") : (note ?? "Nothing relevant.");
    b.branch([{ tokens: extract, weight: WEIGHT.none }, ...replyParts(text, reply, im_end, fused)]);
    if (!fused && (note || r() < 0.3)) {
      b.branch([{ tokens: [...classifier.prefix, ...tok(prompts.classifierHead(question)), ...tok(reply), ...classifierTail], weight: WEIGHT.none },
        ...replyParts(text, note ? "yes" : "no", im_end, true)], true);
    }
  };
  for (let k = laterWindow; k < segments.length; k++) {
    b.trunk([...segments[k]!.tokenIds!], WEIGHT.code);
    margin(task.question, gold[k]);
    // Alternately one it answers and one it does not; where either kind is missing (a codebase of
    // one segment answers everything) none, so that yes and no stay even.
    const answers = others.flatMap((_, j) => (othersGold[j]![k] ? [j] : []));
    const rest = others.flatMap((_, j) => (othersGold[j]![k] ? [] : [j]));
    for (let i = 0; i < (o.extraMargins ?? EXTRA_MARGINS) && answers.length && rest.length; i++) {
      const from = i % 2 === 0 ? answers : rest;
      const j = from[Math.floor(r() * from.length)]!;
      margin(others[j]!.question, othersGold[j]![k]);
    }
  }
  const notes = gold.flatMap((n, k) => (n ? [{ segment: k, text: n }] : []));
  const answer = replyParts(text, goldAnswer(task), im_end);
  b.branch([{ tokens: [...tok(prompts.answerPrompt(notes, task.question)), ...reader.suffix], weight: WEIGHT.none }, ...answer]);
  // Plain reading (no notes) only where the trunk holds the whole codebase, as a plain run would.
  if (!laterWindow) {
    b.branch([{ tokens: [...tok(prompts.answerPrompt([], task.question)), ...reader.suffix], weight: WEIGHT.none }, ...answer]);
    const unasked = [...others];
    for (let i = 0; i < (o.extraQuestions ?? EXTRA_QUESTIONS) && unasked.length; i++) {
      const q = unasked.splice(Math.floor(r() * unasked.length), 1)[0]!;
      b.branch([{ tokens: [...tok(prompts.answerPrompt([], q.question)), ...reader.suffix], weight: WEIGHT.none }, ...replyParts(text, goldAnswer(q), im_end)]);
    }
  }
  return { example: b.ex, task };
}

/**
 * A reply's tokens, ended, with the looked-up parts (a value after " = ", a cited line number)
 * weighted as lookups and, where the reply opens with a verdict, that word as a verdict. A token
 * takes the weight of the part any of its characters falls in.
 */
export function replyParts(text: TextSide, reply: string, end: Token, verdict = false): { tokens: Token[]; weight: number }[] {
  const spans: [number, number, number][] = [];
  const said = verdict ? /^(yes|no)\b/.exec(reply)?.[1] : undefined;
  if (verdict && !said) throw new Error(`a verdict reply opens with yes or no: ${JSON.stringify(reply)}`);
  if (said) spans.push([0, said.length, said === "yes" ? WEIGHT.verdictYes : WEIGHT.verdictNo]);
  for (const m of reply.matchAll(/ = ("[^"]*"|[^ ;()]+)|:(\d+)\)/g)) {
    const s = m.index + m[0].indexOf(m[1] ?? m[2]!);
    spans.push([s, s + (m[1] ?? m[2]!).length, WEIGHT.lookup]);
  }
  const tokens = text.tokenizeText(reply);
  const parts: { tokens: Token[]; weight: number }[] = [];
  let before = 0;
  tokens.forEach((t, i) => {
    const after = text.detokenize(tokens.slice(0, i + 1)).length;
    const weight = spans.find(([s, e]) => s < after && e > before)?.[2] ?? WEIGHT.reply;
    if (parts.at(-1)?.weight === weight) parts.at(-1)!.tokens.push(t);
    else parts.push({ tokens: [t], weight });
    before = after;
  });
  parts.push({ tokens: [end], weight: WEIGHT.reply });
  return parts;
}

/** The chat template's end of turn, which ends a reply: the suffix closes the user's turn with it. */
function endOfTurn(text: TextSide): Token {
  const first = text.chatParts("s").suffix[0];
  if (first === undefined || !text.isEndOfGeneration(first)) throw new Error("the chat template's user turn does not end with an end-of-generation token");
  return first;
}
