// Relevance-first reading: which terms a question searches for, and which files come first.
import { test } from "node:test";
import assert from "node:assert/strict";
import { questionTerms, rankFiles, splitIdentifier } from "../../src/core/pack/relevance";
import { planCodebase } from "../../src/core/plan";
import { tempDir, writeTree } from "../support/fixtures";

test("identifiers split on case, digits and underscores; the whole stays a term too", () => {
  assert.deepEqual(splitIdentifier("postMessageToView"), ["post", "Message", "To", "View"]);
  assert.deepEqual(splitIdentifier("MAX_FILE_BYTES"), ["MAX", "FILE", "BYTES"]);
  assert.deepEqual(splitIdentifier("HTTPServer"), ["HTTP", "Server"]);
  const terms = questionTerms("Where is `f7` defined, and what calls postMessage in the webview?");
  assert.deepEqual(terms.map((t) => t.term), ["f7", "postmessage", "post", "message", "webview"], "stopwords and short words are left out");
  assert.ok(terms.find((t) => t.term === "f7")!.whole, "a `quoted` name is an identifier, whatever its shape");
  assert.ok(!terms.find((t) => t.term === "post")!.whole);
  assert.deepEqual(questionTerms("what does it do and where?"), [], "a question of stopwords searches for nothing");
});

test("the file that defines the named identifier comes before those that only use it, and a path match counts", () => {
  const files = [
    { path: "a/alpha.ts", text: "export const unrelated = 1;\n".repeat(20) },
    { path: "b/caller.ts", text: "import { computeRetryDelay } from './retry';\nconst d = computeRetryDelay(3);\n" },
    { path: "c/retry.ts", text: "export function computeRetryDelay(attempt: number) {\n  return 2 ** attempt * 100;\n}\n" },
    { path: "d/zeta.ts", text: "export const other = 2;\n" },
  ];
  const r = rankFiles(files, "Where is computeRetryDelay defined?");
  assert.equal(r.order[0], "c/retry.ts");
  assert.equal(r.order[1], "b/caller.ts");
  assert.deepEqual(r.order.slice(2), ["a/alpha.ts", "d/zeta.ts"], "files without a match keep their order, after");
  assert.equal(r.matched, 2);
  assert.equal(r.leading[0], "computeRetryDelay");
  // A path naming the subject brings its file forward though its text never says it.
  const byPath = rankFiles([{ path: "x/one.ts", text: "const a = 1;" }, { path: "src/webview/main.ts", text: "const b = 2;" }], "how does the webview render?");
  assert.deepEqual(byPath.order, ["src/webview/main.ts", "x/one.ts"]);
});

test("definitions are found across languages, not calls or returns", () => {
  const rank = (text: string): number => rankFiles([{ path: "f.txt", text }, { path: "g.txt", text: "parseHeader parseHeader" }], "what does `parseHeader` do?").scores.get("f.txt")!;
  const uses = rank("x = parseHeader(y)\n");
  for (const def of ["def parseHeader(self):", "sub parseHeader {", "func parseHeader(b []byte) error {", "static int parseHeader(char *p) {", "export const parseHeader = (s) => s;", "class parseHeader:", "  parseHeader: function () {}"]) {
    assert.ok(rank(`${def}\n  body\n`) > uses, def);
  }
  assert.ok(Math.abs(rank("  return parseHeader(x)\n") - rank("  y = 1 + parseHeader(x)\n")) < 0.05, "a return is not a definition");
});

test("a plan ranked for a question keeps its segments in path order and scores each by its likeliest file", async () => {
  const dir = tempDir();
  try {
    // Each file about a segment's worth, so that each has a segment of its own.
    const padded = (text: string): string => text + "// a comment to fill the file out to a segment of its own\n".repeat(4);
    writeTree(dir.path, {
      "a.ts": padded("export const a = 1;\n"), "b.ts": padded("export const b = 2;\n"), "z/retry.ts": padded("export function backoffDelay() { return 5; }\n"),
      "y.ts": padded("export const y = backoffDelay();\n"),
    });
    const plan = await planCodebase([dir.path], { segmentTokens: 64, countTokens: (t) => Math.ceil(t.length / 4) });
    const segmentOf = (path: string): number => plan.outline.findIndex((o) => o.sources.some((s) => s.path === path));
    assert.notEqual(segmentOf("z/retry.ts"), segmentOf("y.ts"));
    const paths = (): string[] => plan.outline.flatMap((o) => o.sources.map((s) => s.path));
    const before = paths();
    assert.equal(plan.segmentScores, undefined, "not ranked yet");
    const order = plan.readFirstFor("where is backoffDelay defined?");
    assert.equal(order.by, "relevance");
    assert.equal(order.leading[0], "backoffDelay");
    assert.deepEqual(paths(), before, "the files keep their places: the windows stay the same for every question");
    const scores = plan.segmentScores!;
    assert.equal(scores.length, plan.segmentCount);
    const scoreOf = (path: string): number => scores[segmentOf(path)]!;
    assert.ok(scoreOf("z/retry.ts") > scoreOf("y.ts") && scoreOf("y.ts") > 0, `the definition first, then the use: ${scores}`);
    assert.equal(scoreOf("a.ts"), 0);
    plan.readByPath();
    assert.equal(plan.segmentScores, undefined);
    assert.equal(plan.readFirstFor("what is the meaning of it?").by, "path", "no term found: path order");
  } finally {
    dir.dispose();
  }
});
