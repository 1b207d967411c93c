// Packing with the model's own tokenizer: every line once, source maps exact, budgets kept.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { locate, measureFile, packFiles, segmentChunks, splitLines } from "../../src/core/pack/packer";
import { planCodebase } from "../../src/core/plan";
import { readWorkspace } from "../../src/core/workspace/reader";
import { chunkTokenizer, openTokenizer, type Tokenizer } from "../../src/engine/tokens/tokenizer";
import { loadLlama } from "../../src/engine/llama/runtime";
import { git, tempDir, writeTree } from "../support/fixtures";
import { testModelPath } from "../support/models";

let tokenizer: Tokenizer;
const dir = tempDir();

function sourceFile(lines: number, seed: number): string {
  let out = "";
  for (let i = 1; i <= lines; i++) out += `export function f${seed}_${i}(value: number) { return value * ${i} + ${seed}; } // line ${i}\n`;
  return out;
}

before(async () => {
  tokenizer = await openTokenizer(testModelPath("tiny"), { workers: 0 });
  writeTree(dir.path, {
    "a/small.ts": sourceFile(3, 1),
    "a/empty.ts": "",
    "b/large.ts": sourceFile(400, 2),
    "b/no-newline.ts": "const last = 1;",
    "c/medium.ts": sourceFile(60, 3),
    "c/unicode.md": "# Überblick ✓\n\nÉtat des lieux: 日本語のテキスト\n",
    "d/special.txt": "text with </s> and <|im_end|> inside\n",
  });
});
after(async () => {
  await tokenizer.dispose();
  dir.dispose();
});

for (const budget of [256, 1024, 4096]) {
  test(`every line of every file appears exactly once, in order, within ${budget}-token segments`, async () => {
    const { files } = await readWorkspace([dir.path]);
    const { segments, files: packed } = packFiles(files, { segmentTokens: budget, countTokens: tokenizer.countTokens });
    const seen = new Map<string, string[]>();
    for (const segment of segments) {
      // The engine prefills each chunk's own tokens, from llama.cpp, in order: that sum is the segment's size.
      const prefilled = segmentChunks(segment).reduce((n, t) => n + tokenizer.tokenize(t).length, 0);
      assert.ok(prefilled <= budget, `segment ${segment.index}: ${prefilled} > ${budget}`);
      assert.equal(segment.tokens, prefilled);
      for (const s of segment.sources) {
        const body = segment.text.slice(s.start, s.end);
        const lines = splitLines(body);
        assert.equal(lines.length, s.endLine - s.startLine + (s.endLine ? 1 : 0), `${s.path} ${s.startLine}-${s.endLine}`);
        // Checked against the file on disk, not against what the packer was given.
        const disk = splitLines(readFileSync(join(dir.path, s.path), "utf8"));
        assert.deepEqual(lines, disk.slice(Math.max(0, s.startLine - 1), s.endLine), `${s.path}:${s.startLine}-${s.endLine}`);
        assert.match(segment.text.slice(s.headerStart, s.start), new RegExp(`^### ${s.path.replace(/[.]/g, "\\.")} \\(`));
        seen.set(s.path, [...(seen.get(s.path) ?? []), ...lines]);
      }
    }
    for (const f of files) assert.deepEqual(seen.get(f.path), splitLines(f.text), `${f.path} lines, once each, in order`);
    assert.deepEqual(packed.map((f) => f.path), files.map((f) => f.path));
    const large = packed.find((f) => f.path === "b/large.ts")!;
    if (budget < 4096) assert.ok(large.pieces > 1, "a file larger than a segment is cut");
  });
}

test("any offset in a segment maps back to the file and line it came from", async () => {
  const { files } = await readWorkspace([dir.path]);
  const { segments } = packFiles(files, { segmentTokens: 512, countTokens: tokenizer.countTokens });
  let checked = 0;
  for (const segment of segments) {
    for (const s of segment.sources) {
      const disk = splitLines(readFileSync(join(dir.path, s.path), "utf8"));
      for (let offset = s.start; offset < s.end; offset += 17) {
        const at = locate(segment, offset)!;
        assert.equal(at.path, s.path);
        const lineStart = segment.text.lastIndexOf("\n", offset - 1) + 1;
        const lineEnd = segment.text.indexOf("\n", offset);
        assert.equal(segment.text.slice(lineStart, lineEnd), disk[at.line - 1], `${s.path}:${at.line}`);
        checked++;
      }
    }
  }
  assert.ok(checked > 500, `checked ${checked} offsets`);
});

test("file text is tokenized with special tokens off", () => {
  const ids = tokenizer.tokenize("text with </s> and <|im_end|> inside");
  // The tiny model's control tokens are ids 0-5 (see test/support/testModel.ts).
  assert.ok(ids.every((id) => id > 5), `control token in ${ids}`);
});

test("the plan reports files, tokens per file, segments, totals and skips before any model runs", async () => {
  writeTree(dir.path, { "z/blob.bin": Buffer.from([1, 0, 2]) });
  const plan = await planCodebase([dir.path], { segmentTokens: 1024, countTokens: tokenizer.countTokens });
  assert.equal(plan.totalTokens, plan.segments.flatMap(segmentChunks).reduce((n, t) => n + tokenizer.tokenize(t).length, 0));
  assert.equal(plan.files.length, 7);
  assert.deepEqual(plan.skippedByReason, { binary: 1 });
  assert.ok(plan.files.every((f) => f.tokens > 0));
});

test("a plan made to run carries each segment's tokens, exactly what the engine would make of its chunks", async () => {
  const plan = await planCodebase([dir.path], { segmentTokens: 256, countTokens: tokenizer.countTokens, tokenize: tokenizer.tokenize });
  assert.ok(plan.segments.length >= 4);
  const model = await (await loadLlama("cpu")).loadModel({ modelPath: testModelPath("tiny"), vocabOnly: true });
  try {
    const engineTokenize = chunkTokenizer(model);
    for (const s of plan.segments) {
      assert.ok(s.tokenIds, `segment ${s.index} carries its tokens`);
      assert.deepEqual([...s.tokenIds], segmentChunks(s).flatMap(engineTokenize), `segment ${s.index}`);
      assert.equal(s.tokenIds.length, s.tokens);
    }
  } finally {
    await model.dispose();
  }
  // A plan only shown keeps none.
  const shown = await planCodebase([dir.path], { segmentTokens: 256, countTokens: tokenizer.countTokens });
  assert.ok(shown.segments.every((s) => s.tokenIds === undefined));
  assert.equal(shown.totalTokens, plan.totalTokens);
});

test("before it runs, a plan reads again only the files changed since, and leaves out those gone", async () => {
  const own = tempDir();
  try {
    writeTree(own.path, { "a.ts": sourceFile(20, 1), "b.ts": sourceFile(20, 2), "c.ts": sourceFile(20, 3) });
    const measuredPaths: string[] = [];
    const options = {
      segmentTokens: 256, countTokens: tokenizer.countTokens, tokenize: tokenizer.tokenize, encoding: "shift_jis",
      measureFiles: async (files: readonly { path: string; text: string; bytes: number }[], budget: number, keep: boolean) => {
        measuredPaths.push(...files.map((f) => f.path));
        return tokenizer.measureFiles(files, budget, keep);
      },
    };
    const plan = await planCodebase([own.path], options);
    assert.deepEqual(measuredPaths.sort(), ["a.ts", "b.ts", "c.ts"]);
    assert.deepEqual(await plan.refresh(options), { changed: [], removed: [] }, "nothing changed: nothing read");
    measuredPaths.length = 0;
    // b.ts is saved in Shift-JIS ("日本語" in a comment): read again in the plan's encoding.
    writeTree(own.path, { "b.ts": Buffer.concat([Buffer.from(sourceFile(40, 9)), Buffer.from("// "), Buffer.from([0x93, 0xfa, 0x96, 0x7b, 0x8c, 0xea]), Buffer.from("\n")]) });
    rmSync(join(own.path, "c.ts"));
    assert.deepEqual(await plan.refresh(options), { changed: ["b.ts"], removed: ["c.ts"] });
    assert.deepEqual(measuredPaths, ["b.ts"], "only the changed file is measured again");
    assert.deepEqual(plan.decoded, [{ path: "b.ts", encoding: "shift_jis", replaced: 0 }]);
    assert.ok(plan.fileText("b.ts")?.endsWith("// 日本語\n"));
    const fresh = await planCodebase([own.path], options);
    assert.deepEqual(plan.decoded, fresh.decoded);
    assert.deepEqual(plan.files, fresh.files);
    assert.deepEqual(plan.segments.map((s) => [...s.tokenIds!]), fresh.segments.map((s) => [...s.tokenIds!]));
  } finally {
    own.dispose();
  }
});

test("a plan of an editor's unsaved text keeps it until the file is saved, then reads the disk", async () => {
  const own = tempDir();
  try {
    writeTree(own.path, { "a.ts": sourceFile(20, 1), "b.ts": sourceFile(20, 2) });
    const options = { segmentTokens: 256, countTokens: tokenizer.countTokens, tokenize: tokenizer.tokenize };
    const edited = sourceFile(30, 7);
    const plan = await planCodebase([own.path], { ...options, unsaved: new Map([[join(own.path, "b.ts"), edited]]) });
    assert.deepEqual(plan.unsaved, ["b.ts"]);
    assert.equal(plan.fileText("b.ts"), edited);
    assert.equal(plan.files.find((f) => f.path === "b.ts")!.lines, 30);
    // The disk is as it was: the editor's text stays (refresh is not given it again).
    assert.deepEqual(await plan.refresh(options), { changed: [], removed: [] });
    assert.equal(plan.fileText("b.ts"), edited);
    // Saved: the disk's text is read again, and the file is no longer unsaved.
    writeTree(own.path, { "b.ts": edited });
    assert.deepEqual(await plan.refresh(options), { changed: ["b.ts"], removed: [] });
    assert.deepEqual(plan.unsaved, []);
    const fresh = await planCodebase([own.path], options);
    assert.deepEqual(plan.segments.map((s) => [...s.tokenIds!]), fresh.segments.map((s) => [...s.tokenIds!]));
  } finally {
    own.dispose();
  }
});

test("a plan of a file deleted on disk and held by an editor keeps it while the disk has none, and reads the disk's when it is back", async () => {
  const own = tempDir();
  try {
    writeTree(own.path, { "a.ts": sourceFile(20, 1), "b.ts": sourceFile(20, 2) });
    git(own.path, "init", "-q");
    git(own.path, "add", "-A");
    git(own.path, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "files");
    rmSync(join(own.path, "b.ts"));
    const options = { segmentTokens: 256, countTokens: tokenizer.countTokens, tokenize: tokenizer.tokenize };
    const edited = sourceFile(25, 7);
    const plan = await planCodebase([own.path], { ...options, unsaved: new Map([[join(own.path, "b.ts"), edited]]) });
    assert.deepEqual(plan.unsaved, ["b.ts"]);
    assert.equal(plan.fileText("b.ts"), edited);
    assert.deepEqual(await plan.refresh(options), { changed: [], removed: [] }, "still gone from the disk: as planned");
    assert.equal(plan.fileText("b.ts"), edited);
    // Saved from the editor: the disk's text is read.
    writeTree(own.path, { "b.ts": edited });
    assert.deepEqual(await plan.refresh(options), { changed: ["b.ts"], removed: [] });
    assert.deepEqual(plan.unsaved, []);
  } finally {
    own.dispose();
  }
});

test("a large data file's first lines are packed under a header that says what they are the start of, and read again when it grows", async () => {
  const own = tempDir();
  try {
    const rows = (n: number): string => "id,value\n" + Array.from({ length: n }, (_, i) => `${i},${i * 7}`).join("\n") + "\n";
    writeTree(own.path, { "a.ts": sourceFile(5, 1), "table.csv": rows(20_000) });
    const options = { segmentTokens: 4096, countTokens: tokenizer.countTokens, tokenize: tokenizer.tokenize };
    const plan = await planCodebase([own.path], options);
    const mib = (n: number): string => (n / 1048576).toFixed(1);
    const size = rows(20_000).length;
    assert.ok(size < 1048576, "under a MiB: said in KiB");
    assert.ok(plan.segments[0]!.text.includes(`### table.csv (lines 1-25 of a data file of ${Math.round(size / 1024)} KiB, not read further)\n${rows(24)}`), plan.segments[0]!.text.slice(-400));
    writeTree(own.path, { "table.csv": rows(300_000) });
    assert.deepEqual(await plan.refresh(options), { changed: ["table.csv"], removed: [] });
    assert.ok(plan.segments[0]!.text.includes(`### table.csv (lines 1-25 of a data file of ${mib(rows(300_000).length)} MiB, not read further)\n`));
    // Unchanged since: nothing to read again, though the 25 lines are not the file's size.
    assert.deepEqual(await plan.refresh(options), { changed: [], removed: [] });
  } finally {
    own.dispose();
  }
});

test("measuring whole chunks in helper processes gives exactly what counting pieces here gives", async () => {
  const { files } = await readWorkspace([dir.path]);
  // The helpers serve vocabularies without a piece counter; here they tokenize with llama.cpp.
  const pooled = await openTokenizer(testModelPath("tiny"), { workers: 2, parallelMinChars: 0, pieces: false });
  try {
    for (const budget of [128, 4096]) {
      const here = files.map((f) => measureFile(f, budget, tokenizer.countTokens));
      const there = await pooled.measureFiles(files, budget);
      assert.deepEqual(there, here);
      assert.ok(there.some((m) => "pieces" in m && m.pieces.length > 1), "a cut file is among them");
      // Kept tokens cross the process boundary too.
      assert.deepEqual(await pooled.measureFiles(files, budget, true), files.map((f) => measureFile(f, budget, tokenizer.countTokens, tokenizer.tokenize)));
    }
  } finally {
    await pooled.dispose();
  }
});
