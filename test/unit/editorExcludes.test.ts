import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { excludeMatcher, globTest } from "../../src/core/workspace/editorExcludes";
import { readWorkspace } from "../../src/core/workspace/reader";
import { tempDir, writeTree } from "../support/fixtures";

test("VS Code globs match as VS Code's search does, not as gitignore does", () => {
  const cases: [string, string[], string[]][] = [
    ["**/node_modules", ["node_modules", "a/b/node_modules"], ["node_modules2", "a/xnode_modules"]],
    // Without **/ a pattern is anchored at the workspace folder (gitignore's `*.log` would match anywhere).
    ["*.log", ["a.log", ".log"], ["d/a.log", "a.log.txt"]],
    ["**/*.{js,map}", ["a.js", "d/e/f.map", ".eslintrc.js"], ["a.ts", "a.jsx", "js"]],
    ["src/**/test/*.ts", ["src/test/a.ts", "src/x/y/test/a.ts"], ["src/test/x/a.ts", "lib/test/a.ts", "src/atest/a.ts"]],
    ["dist/**", ["dist", "dist/a.js", "dist/x/y"], ["distx/a.js", "a/dist/b"]],
    ["**/out/**", ["out", "a/out", "a/out/b.js"], ["about/b.js"]],
    ["a?c.txt", ["abc.txt", "a.c.txt"], ["ac.txt", "a/c.txt", "abbc.txt"]],
    ["[ab].ts", ["a.ts", "b.ts"], ["c.ts", "ab.ts"]],
    ["[!a].ts", ["b.ts"], ["a.ts"]],
    ["{**/dist,out}", ["dist", "x/dist", "out"], ["x/out", "dist2"]],
    ["{a,{b,c}}.ts", ["a.ts", "b.ts", "c.ts"], ["d.ts", "{a,{b,c}}.ts"]],
    // What regular expressions would read as syntax is literal.
    ["a+b.(x)|$", ["a+b.(x)|$"], ["aab.(x)|$", "a+bx(x)|$"]],
    ["unclosed{brace", ["unclosed{brace"], ["unclosedbrace"]],
    ["**", ["a", "a/b/c"], []],
  ];
  for (const [glob, yes, no] of cases) {
    const matches = globTest(glob, false);
    for (const p of yes) assert.ok(matches(p), `${glob} matches ${p}`);
    for (const p of no) assert.ok(!matches(p), `${glob} does not match ${p}`);
  }
  // Case matters where the file system's names do (Linux), not on Windows and macOS.
  assert.ok(!globTest("**/Build", false)("build"));
  assert.ok(globTest("**/Build", true)("a/build"));
  // A pattern a backtracking matcher would take years over, on a long name and a deep path: the bound
  // guards against hours, not for speed (matching this takes well under a millisecond).
  const started = performance.now();
  assert.ok(!globTest(`**/${"*a".repeat(12)}*b/**/${"*".repeat(5)}x`, false)(`${"d/".repeat(200)}${"a".repeat(255)}/y`));
  assert.ok(performance.now() - started < 5000, `${performance.now() - started} ms`);
});

test("files.exclude and search.exclude leave files out of the read, a hidden folder counted once, with the pattern that hid it", async () => {
  const dir = tempDir();
  try {
    const root = dir.path;
    writeTree(root, {
      "src/a.ts": "export const a = 1;\n", "src/a.js": "exports.a = 1;\n", "src/b.js": "exports.b = 2;\n",
      "build/x.txt": "out\n", "build/y/z.txt": "out\n", "docs/d.md": "# docs\n", ".DS_Store": "junk\n",
      "lib/vendor/m.js": "module\n", "secret/key.txt": "k\n", "src/gen/g.ts": "export const g = 1;\n",
    });
    const excludes = [
      { base: root, setting: "files.exclude", patterns: { "**/.DS_Store": true, build: true, "**/*.js": { when: "$(basename).ts" }, docs: false, [join(root, "secret", "**")]: true } },
      { base: root, setting: "search.exclude", patterns: { "**/vendor": true, "**/*.code-search": true } },
      // Another folder's patterns say nothing about this one.
      { base: join(root, "..", "elsewhere"), setting: "files.exclude", patterns: { "**": true } },
    ];
    const { files, skipped } = await readWorkspace([root], { excludes });
    assert.deepEqual(files.map((f) => f.path), ["docs/d.md", "src/a.ts", "src/b.js", "src/gen/g.ts"]);
    assert.deepEqual(skipped.map((s) => [s.path, s.reason, s.detail]), [
      [".DS_Store", "excluded", "files.exclude **/.DS_Store"],
      ["build/", "excluded", "files.exclude build"],
      ["lib/vendor/", "excluded", "search.exclude **/vendor"],
      ["secret/", "excluded", `files.exclude ${join(root, "secret", "**")}`],
      ["src/a.js", "excluded", "files.exclude **/*.js (beside a.ts)"],
    ]);
    // Narrowed to a folder inside the workspace folder: its patterns still count from the folder.
    const hidden = excludeMatcher([{ base: root, setting: "files.exclude", patterns: { "src/gen": true } }], join(root, "src"));
    assert.deepEqual(await hidden!("gen/g.ts"), { path: "gen", why: "files.exclude src/gen" });
    assert.equal(await hidden!("a.ts"), undefined);
    assert.equal(excludeMatcher([{ base: root, setting: "files.exclude", patterns: { "**/x": false } }], root), undefined, "nothing true: nothing to match");
  } finally {
    dir.dispose();
  }
});
