// Synthetic codebases with a question whose answer sits in one place (1 hop: a constant's value)
// or needs two ("what does f return?" where f returns a constant defined in another file). The
// files look like code (imports, comments, constants, functions, filler) in two styles, and every
// name and value comes from the seed, so a held-out seed gives new names, values and layouts.
// What a reader should note after each segment (gold margins) is derived here too, by the same
// rule the benchmark scores verdicts with.
import { rng } from "../../test/support/testModel";

export interface CodeFile { path: string; text: string }
/**
 * A line that answers something: where it is, its text, and what it says in the answers' own
 * words ("NAME = VALUE", "f returns NAME"). Notes and answers open with that claim and cite after
 * it: a reader that has just copied the question's name can continue by looking up what follows
 * that name in the code, where "It is VALUE (path:line)" made it produce the value before any name.
 */
export interface Fact { path: string; line: number; text: string; claim: string }

export interface Task {
  files: CodeFile[];
  question: string;
  hops: 1 | 2;
  /** The value the answer must name, and where it is defined (what it must cite). */
  value: string;
  at: { path: string; line: number };
  /** 2 hops: the function's return line, which leads to the constant. */
  via?: Fact;
  /** The definition line of the value. */
  definition: Fact;
}

type Rand = () => number;
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[Math.floor(r() * xs.length)]!;
const int = (r: Rand, lo: number, hi: number): number => lo + Math.floor(r() * (hi - lo + 1));

const SYLLABLES = "ka lo mi ra to ve su ne pa di zo fu gri bel mon tar vek sil dor pun lim hax quo jet wim ban cor dex fal gin hop".split(" ");
const WORDS = "cache buffer frame header socket parser queue token retry limit stream window index batch signal worker layout render timer config".split(" ");
const COMMENT_WORDS = "the of to and for this keeps reads writes when before after each value returns checks only once again later here state".split(" ");
const DIRS = ["src", "lib", "app", "core", "util", "net", "io", "ui"];

function camel(r: Rand): string {
  const w = pick(r, WORDS);
  return w + pick(r, SYLLABLES).replace(/^./, (c) => c.toUpperCase()) + (r() < 0.5 ? String(int(r, 1, 99)) : "");
}
function upper(r: Rand): string {
  return `${pick(r, WORDS).toUpperCase()}_${pick(r, SYLLABLES).toUpperCase()}${r() < 0.6 ? `_${int(r, 1, 99)}` : ""}`;
}
function value(r: Rand): string {
  return r() < 0.6 ? String(int(r, 10, 99999)) : `"${pick(r, SYLLABLES)}${pick(r, SYLLABLES)}-${int(r, 1, 999)}"`;
}
function comment(r: Rand, py: boolean): string {
  const words = Array.from({ length: int(r, 3, 9) }, () => pick(r, COMMENT_WORDS)).join(" ");
  return (py ? "# " : "// ") + words;
}

interface Defs { constants: Map<string, string>; functions: Map<string, { returns: string; literal: boolean }> }

/** One file's lines; `plant` puts required definitions in. Returns the lines and where each planted name is. */
function fileLines(r: Rand, py: boolean, names: Defs, plant: { constants: string[]; functions: string[] }, size: number): { lines: string[]; at: Map<string, number> } {
  const lines: string[] = [];
  const at = new Map<string, number>();
  const imports = int(r, 0, 3);
  for (let i = 0; i < imports; i++) {
    const from = `${pick(r, DIRS)}/${pick(r, WORDS)}`;
    lines.push(py ? `from ${from.replace("/", ".")} import ${camel(r)}` : `import { ${camel(r)} } from "./${from}";`);
  }
  if (imports) lines.push("");
  const items = [...plant.constants.map((c) => ({ c })), ...plant.functions.map((f) => ({ f }))];
  // Filler around the planted items, in a random order.
  while (items.length < size) items.push(r() < 0.5 ? { c: "" } : { f: "" });
  for (let i = items.length - 1; i > 0; i--) { const j = Math.floor(r() * (i + 1)); [items[i], items[j]] = [items[j]!, items[i]!]; }
  for (const item of items) {
    if (r() < 0.4) lines.push(comment(r, py));
    if ("c" in item) {
      const name = item.c || upper(r);
      const v = item.c ? names.constants.get(item.c)! : value(r);
      if (!item.c && names.constants.has(name)) continue;
      if (item.c) at.set(name, lines.length + 1);
      lines.push(py ? `${name} = ${v}` : `export const ${name} = ${v};`);
    } else {
      const name = item.f || camel(r);
      if (!item.f && names.functions.has(name)) continue;
      const def = item.f ? names.functions.get(item.f)! : { returns: r() < 0.5 ? upper(r) : value(r), literal: true };
      const arg = pick(r, ["x", "value", "opts", "n", "item"]);
      lines.push(py ? `def ${name}(${arg}):` : `export function ${name}(${arg}) {`);
      const body = int(r, 0, 2);
      for (let b = 0; b < body; b++) lines.push(py ? `    ${arg} = ${arg} + ${int(r, 1, 9)}` : `  ${arg} = ${arg} + ${int(r, 1, 9)};`);
      if (item.f) at.set(name, lines.length + 1);
      lines.push(py ? `    return ${def.returns}` : `  return ${def.returns};`);
      if (!py) lines.push("}");
    }
    if (r() < 0.3) lines.push("");
  }
  return { lines, at };
}

const ONE_HOP = [
  (n: string) => `What is the value of ${n}?`,
  (n: string) => `What is ${n} set to?`,
  (n: string) => `Which value does ${n} hold, and where is it defined?`,
  (n: string) => `Find the value assigned to ${n}.`,
  (n: string) => `what's ${n}?`,
  (n: string) => `Where is ${n} defined and what is its value?`,
];
const TWO_HOP = [
  (f: string) => `What does ${f} return?`,
  (f: string) => `What value does the function ${f} return?`,
  (f: string) => `If I call ${f}, what do I get back?`,
  (f: string) => `Which value comes back from ${f}()?`,
  (f: string) => `what is the return value of ${f}?`,
];

export interface TaskOptions {
  seed: number;
  /** About how many characters of code (the token count follows from the tokenizer: ~3 characters a token). */
  chars: number;
  hops?: 1 | 2;
}

export function makeTask(o: TaskOptions): Task {
  const r = rng(o.seed);
  const hops = o.hops ?? (r() < 0.5 ? 1 : 2);
  const names: Defs = { constants: new Map(), functions: new Map() };
  const constant = upper(r);
  const v = value(r);
  names.constants.set(constant, v);
  const fn = camel(r);
  if (hops === 2) names.functions.set(fn, { returns: constant, literal: false });
  // Near misses: a constant and a function whose names share the target's words, with other values.
  const decoyConstant = constant.replace(/_\d+$/, "") + `_${int(r, 100, 199)}`;
  names.constants.set(decoyConstant, value(r));
  const decoyFn = fn.replace(/\d+$/, "") + "Next";
  const decoyTarget = upper(r);
  names.constants.set(decoyTarget, value(r));
  if (hops === 2) names.functions.set(decoyFn, { returns: decoyTarget, literal: false });

  const files: CodeFile[] = [];
  const paths = new Set<string>();
  const plan: { constants: string[]; functions: string[] }[] = [];
  let chars = 0;
  const fileCount = Math.max(3, Math.round(o.chars / 700));
  for (let i = 0; i < fileCount; i++) plan.push({ constants: [], functions: [] });
  // The definition and the function in different files (2 hops), anywhere in the codebase.
  const cFile = int(r, 0, fileCount - 1);
  let fFile = int(r, 0, fileCount - 1);
  if (hops === 2 && fFile === cFile) fFile = (cFile + 1 + int(r, 0, fileCount - 2)) % fileCount;
  plan[cFile]!.constants.push(constant);
  plan[int(r, 0, fileCount - 1)]!.constants.push(decoyConstant, decoyTarget);
  if (hops === 2) { plan[fFile]!.functions.push(fn); plan[int(r, 0, fileCount - 1)]!.functions.push(decoyFn); }

  let definition: Fact | undefined;
  let via: Fact | undefined;
  for (let i = 0; i < fileCount && (chars < o.chars || i <= Math.max(cFile, fFile)); i++) {
    const py = r() < 0.35;
    let path: string;
    do path = `${pick(r, DIRS)}/${r() < 0.4 ? pick(r, WORDS) + "/" : ""}${camel(r).replace(/\d+$/, "")}${py ? ".py" : ".ts"}`;
    while (paths.has(path));
    paths.add(path);
    const { lines, at } = fileLines(r, py, names, plan[i]!, int(r, 4, 14));
    const text = lines.join("\n") + "\n";
    files.push({ path, text });
    chars += text.length;
    const c = at.get(constant);
    if (c !== undefined) definition = { path, line: c, text: lines[c - 1]!.trim(), claim: `${constant} = ${v}` };
    const f = at.get(fn);
    if (f !== undefined) via = { path, line: f, text: lines[f - 1]!.trim(), claim: `${fn} returns ${constant}` };
  }
  files.sort((a, b) => (a.path < b.path ? -1 : 1));
  const question = hops === 1 ? pick(r, ONE_HOP)(constant) : pick(r, TWO_HOP)(fn);
  return { files, question, hops, value: v, at: { path: definition!.path, line: definition!.line }, definition: definition!, ...(hops === 2 ? { via: via! } : {}) };
}

/** Where each fact sits in a packed codebase: the segment holding its line. */
export interface Placed { fact: Fact; segment: number }

/**
 * The gold verdict and margin of each segment, read in windows (`windowOf`): a segment is relevant
 * when it holds the definition (1 hop) or the function's return line (2 hops), or, for 2 hops, the
 * constant once the function has been seen in this window. A later segment cannot be known.
 */
export function goldMargins(task: Asked, placed: readonly Placed[], segments: number, windowOf: (k: number) => number): (string | undefined)[] {
  const out: (string | undefined)[] = [];
  const fnSeg = placed.find((p) => p.fact === task.via)?.segment;
  for (let k = 0; k < segments; k++) {
    const here = placed.filter((p) => p.segment === k).filter((p) =>
      task.hops === 1 || p.fact === task.via || (fnSeg !== undefined && fnSeg <= k && windowOf(fnSeg) === windowOf(k)));
    out.push(here.length ? here.sort((a, b) => (a.fact === task.via ? -1 : b.fact === task.via ? 1 : 0)).map((p) => noteFor(p.fact)).join("; ") : undefined);
  }
  return out;
}

export interface Constant { fact: Fact; name: string; value: string }
export interface Returner { fact: Fact; name: string; returns: string }

/** Every constant a codebase defines, with its value: more one-hop questions about the same codebase. */
export function constantsIn(files: readonly CodeFile[]): Constant[] {
  const out: Constant[] = [];
  for (const f of files) {
    f.text.split("\n").forEach((line, i) => {
      const m = /^(?:export const )?([A-Z][A-Z0-9_]+) = (.+?);?$/.exec(line);
      if (m) out.push({ fact: { path: f.path, line: i + 1, text: line.trim(), claim: `${m[1]} = ${m[2]}` }, name: m[1]!, value: m[2]! });
    });
  }
  return out;
}

/** Every function and its return line: "what does f return?" about any of them (the first hop alone, or both). */
export function functionsIn(files: readonly CodeFile[]): Returner[] {
  const out: Returner[] = [];
  for (const f of files) {
    let current: string | undefined;
    f.text.split("\n").forEach((line, i) => {
      const head = /^(?:export function|def) ([A-Za-z0-9_]+)\(/.exec(line);
      if (head) current = head[1];
      const ret = /^\s+return (.+?);?$/.exec(line);
      if (ret && current) {
        out.push({ fact: { path: f.path, line: i + 1, text: line.trim(), claim: `${current} returns ${ret[1]}` }, name: current, returns: ret[1]! });
        current = undefined;
      }
    });
  }
  return out;
}

const cite = (f: Fact): string => `${f.path}:${f.line}`;

/** A question with what answers it, as a task has: the task's own, or another about the same codebase. */
export type Asked = Pick<Task, "question" | "hops" | "via" | "definition">;

/** A one-hop question about `c`, in the varied wordings the main task uses. */
export function oneHop(r: Rand, c: Constant): Asked {
  return { question: pick(r, ONE_HOP)(c.name), hops: 1, definition: c.fact };
}

/**
 * "What does f return?": the return line answers it, and where f returns a constant the codebase
 * defines, that constant's definition is the second hop.
 */
export function returnQuestion(r: Rand, f: Returner, constants: readonly Constant[]): Asked {
  const next = constants.find((c) => c.name === f.returns);
  const question = pick(r, TWO_HOP)(f.name);
  return next ? { question, hops: 2, via: f.fact, definition: next.fact } : { question, hops: 1, definition: f.fact };
}

export function noteFor(f: Fact): string {
  return `${f.claim} (${cite(f)})`;
}

/** An answer: the claims that lead to the value, each with its place. */
function answerOf(facts: readonly Fact[]): string {
  return `${facts.map(noteFor).join("; ")}.`;
}

/** The answer a reader should give: the function's return line (2 hops), then the definition. */
export function goldAnswer(task: Asked): string {
  return answerOf(task.via ? [task.via, task.definition] : [task.definition]);
}
