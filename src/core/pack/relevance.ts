// Which files to read first when a codebase takes more than one window: a cheap lexical score of
// the question against each file's path and text, so that "answer now when the answer appears"
// does not depend on where the answer happens to sort. BM25 over the question's terms, where a
// term is a word of the question or a part of one of its identifiers (split on case, digits and
// underscores) and a file's count of it is how often it occurs anywhere in the lowercased text:
// `postMessage` in the question finds `post_message`, `PostMessage` and `postMessageToView`.
// A path that names a term weighs like many mentions, and a file that defines an identifier the
// question names (`def X`, `class X`, `function X`, `X = `) comes before those that only use it.
// Nothing is dropped: files without a match keep their order after those with one.

/** Words a question is made of that say nothing about where to look. */
const STOPWORDS = new Set(`a about above after all also an and any are as at be because been before being below between both but by can could
did do does doing done down during each either else every few find for from get gets got had has have having here how if in into is it its
itself just like make makes many may me might more most much must my need no nor not now of off on once only or other our out over own
please same shall should show shows so some such tell than that the their them then there these they this those through to too under
until up upon use used uses using very via want was way we were what when where whether which while who whom whose why will with within
without would yes you your code codebase file files function functions method methods class classes defined define defines called call
calls work works happen happens line lines implement implemented implementation`.split(/\s+/));

const BM25_K1 = 1.2;
const BM25_B = 0.75;
/**
 * Added to a file's score per term, times the term's weight (idf), beside the text's BM25, which
 * saturates: a term in the path (twice in the basename), and a definition of a whole identifier.
 * A definition outweighs the most mentions can give (BM25 tops out at k1 + 1 = 2.2).
 */
const PATH_BONUS = 1;
const DEFINITION_BONUS = 3;
/** Terms shorter than this occur inside too many unrelated words to say anything. */
const MIN_TERM = 3;

export interface QuestionTerm {
  /** Lowercased, as searched for. */
  term: string;
  /** As the question wrote it, for the reason shown to the user. */
  shown: string;
  /** An identifier as a whole (not a part of one): a definition of it is looked for. */
  whole: boolean;
}

/** The terms of a question worth searching for, longest identifiers first, each once. */
export function questionTerms(question: string): QuestionTerm[] {
  const seen = new Map<string, QuestionTerm>();
  const add = (shown: string, whole: boolean, marked = false): void => {
    const term = shown.toLowerCase();
    if (term.length < (whole ? 2 : MIN_TERM) || (!marked && STOPWORDS.has(term)) || /^\d+$/.test(term)) return;
    const had = seen.get(term);
    if (!had) seen.set(term, { term, shown, whole });
    else if (whole && !had.whole) had.whole = true;
  };
  // `quoted` words and words called like `name()` are identifiers whatever their shape.
  const marked = new Set([...question.matchAll(/`([^`]+)`|([A-Za-z_$][A-Za-z0-9_$]*)\(/g)].flatMap((m) => (m[1] ?? m[2] ?? "").match(/[A-Za-z_$][A-Za-z0-9_$]*/g) ?? []));
  for (const word of question.match(/[A-Za-z_$][A-Za-z0-9_$]*/g) ?? []) {
    const parts = splitIdentifier(word);
    add(word, marked.has(word) || parts.length > 1 || /[_$]/.test(word), marked.has(word));
    if (parts.length > 1) for (const p of parts) add(p, false);
  }
  return [...seen.values()];
}

/** `postMessageToView` → post, Message, To, View; `MAX_FILE_BYTES` → MAX, FILE, BYTES; `utf8Decode` → utf, 8, Decode. */
export function splitIdentifier(word: string): string[] {
  return word
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .replace(/([A-Z]+)([A-Z][a-z])/g, "$1 $2")
    .replace(/([A-Za-z])([0-9])/g, "$1 $2")
    .split(/[\s_$]+/)
    .filter(Boolean);
}

export interface RankInput { path: string; text: string }

export interface Ranking {
  /** Paths, likeliest first: files with a score in descending order, then the rest as they came. */
  order: string[];
  /** Each file's score (0: no term found). */
  scores: Map<string, number>;
  /** The terms that put the first files first, as the question wrote them, strongest first. */
  leading: string[];
  /** Files with any match. */
  matched: number;
}

function countOccurrences(haystack: string, needle: string): number {
  let n = 0;
  for (let at = haystack.indexOf(needle); at !== -1; at = haystack.indexOf(needle, at + needle.length)) n++;
  return n;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
}

/** A line that starts so calls or returns a name; it does not define it. */
const NOT_A_STATEMENT = "(?!(?:return|else|await|yield|throw|new|case|delete|print|echo|puts|assert|if|while|for)\\b)";

/** What defining `name` looks like in the common languages (each alternative linear: no nested ambiguity). */
function definitionOf(name: string): RegExp {
  const id = escapeRegExp(name);
  return new RegExp(
    // def X, class X, function X, fn X, sub X, type X, const X ...
    `\\b(?:function\\*?|def|class|fn|func|sub|interface|type|struct|enum|trait|module|const|let|var|macro|proc|record|object|package)[ \\t]+\\**${id}\\b` +
      // int X(, static Foo<T> *X(: a typed definition at a line's start
      `|^[ \\t]*${NOT_A_STATEMENT}(?:[\\w<>\\[\\],.*&:]+[ \\t]+)+\\**${id}[ \\t]*\\(` +
      // X = ..., X: ... at a line's start (constants, fields, object members)
      `|^[ \\t]*${NOT_A_STATEMENT}(?:\\w+[ \\t]+)*${id}[ \\t]*(?:=(?!=)|:(?!:))`,
    "m",
  );
}

/** Ranks files for a question; an empty question or one with no searchable terms keeps the order. */
export function rankFiles(files: readonly RankInput[], question: string): Ranking {
  const terms = questionTerms(question);
  const scores = new Map<string, number>();
  if (!terms.length || !files.length) return { order: files.map((f) => f.path), scores, leading: [], matched: 0 };
  // Built once per question, not once per file: a whole identifier's definition pattern.
  const definitions = terms.map((t) => (t.whole ? definitionOf(t.shown) : undefined));
  // Per file and term: mentions in the text, and the bonuses (path, definition).
  const found = files.map((f) => {
    const text = f.text.toLowerCase();
    const path = f.path.toLowerCase();
    const base = path.slice(path.lastIndexOf("/") + 1);
    return terms.map((t, j) => {
      const inText = countOccurrences(text, t.term);
      const inPath = base.includes(t.term) ? 2 : path.includes(t.term) ? 1 : 0;
      const defined = inText > 0 && definitions[j]?.test(f.text) ? 1 : 0;
      return { inText, bonus: PATH_BONUS * inPath + DEFINITION_BONUS * defined };
    });
  });
  const lengths = files.map((f) => Math.max(1, f.text.length));
  const averageLength = lengths.reduce((a, b) => a + b, 0) / files.length;
  const idf = terms.map((_, j) => {
    const df = found.reduce((n, c) => n + (c[j]!.inText > 0 || c[j]!.bonus > 0 ? 1 : 0), 0);
    return Math.log(1 + (files.length - df + 0.5) / (df + 0.5));
  });
  /** What term j gives file i. */
  const part = (i: number, j: number): number => {
    const { inText, bonus } = found[i]![j]!;
    const norm = BM25_K1 * (1 - BM25_B + (BM25_B * lengths[i]!) / averageLength);
    return idf[j]! * ((inText * (BM25_K1 + 1)) / (inText + norm) + bonus);
  };
  const contribution = terms.map(() => 0);
  const ranked = files.map((f, i) => {
    let score = 0;
    for (let j = 0; j < terms.length; j++) score += part(i, j);
    scores.set(f.path, score);
    return { path: f.path, score, index: i };
  });
  ranked.sort((a, b) => b.score - a.score || a.index - b.index);
  const matched = ranked.filter((r) => r.score > 0).length;
  // What the first tenth of the matched files owe their place to.
  for (const r of ranked.slice(0, Math.max(1, Math.ceil(matched / 10)))) {
    if (r.score <= 0) break;
    for (let j = 0; j < terms.length; j++) contribution[j]! += part(r.index, j);
  }
  const leading = terms
    .map((t, j) => ({ shown: t.shown, c: contribution[j]! }))
    .filter((t) => t.c > 0)
    .sort((a, b) => b.c - a.c)
    .slice(0, 3)
    .map((t) => t.shown);
  return { order: ranked.map((r) => r.path), scores, leading, matched };
}
