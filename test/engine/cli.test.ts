// The built CLI (dist/cli.js, so run `npm run build` first; `npm test` does) in a child process.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import type { WimEvent } from "../../src/core/wim/events";
import { tempDir, writeTree } from "../support/fixtures";
import { HOSTILE_LITERAL, HOSTILE_OUTPUT } from "../support/hostile";
import { testModelPath } from "../support/models";

const CLI = resolve("dist/cli.js");
const dir = tempDir();
// The warm cache lives under XDG_CACHE_HOME: a folder of the test's own, never the user's.
const cacheHome = tempDir();
let model: string;

before(() => {
  model = testModelPath("tiny");
  const files: Record<string, string> = {};
  for (const name of ["a", "b", "c", "d"]) {
    files[`src/${name}.ts`] = Array.from({ length: 25 }, (_, i) => `export const ${name}${i} = (x: number) => x * ${i}; // ${name} ${i}\n`).join("");
  }
  writeTree(dir.path, files);
});
after(() => {
  dir.dispose();
  cacheHome.dispose();
});

function run(args: string[]): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", env: { ...process.env, ASK_CODEBASE_MODEL: "", XDG_CACHE_HOME: cacheHome.path } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const events = (stdout: string): WimEvent[] => stdout.trim().split("\n").map((l) => JSON.parse(l) as WimEvent);

test("ask --json writes one event per line, from run-started to done, under one run id", () => {
  const r = run(["ask", dir.path, "What does b3 return?", "--model", model, "--json", "--threads", "1", "--segment-tokens", "256", "--margin-tokens", "4", "--answer-tokens", "4"]);
  assert.equal(r.status, 0, r.stderr);
  const list = events(r.stdout);
  assert.equal(list[0]!.type, "run-started");
  assert.deepEqual(list.slice(-2).map((e) => e.type), ["done", "cache-saved"], "the codebase is cached after the answer");
  const started = list[0] as Extract<WimEvent, { type: "run-started" }>;
  assert.equal(list.filter((e) => e.type === "margin-done").length, started.segments);
  assert.equal(list.filter((e) => e.type === "segment-progress").length, started.segments);
  assert.ok(started.segments >= 3);
  assert.equal(new Set(list.map((e) => e.runId)).size, 1);
});

test("ask prints margins with their sources, then the answer", () => {
  const r = run(["ask", dir.path, "What does b3 return?", "--model", model, "--threads", "1", "--segment-tokens", "256", "--margin-tokens", "4", "--answer-tokens", "4"]);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /^reading 4 files, [\d,]+ tokens in \d+ segments with tiny-.*\.gguf on cpu/m);
  assert.match(r.stdout, /── margin 1 ── src\/a\.ts:1-\d+/);
  assert.match(r.stdout, /── answer \(from \d+ margins\) ──/);
  assert.match(r.stderr, /^done: \d+ segments read in /m);
});

test("the next question reads the codebase from the warm cache; `cache` shows it, `cache --clear` empties it", () => {
  const ask = (): ReturnType<typeof run> => run(["ask", dir.path, "Which constant is c2?", "--model", model, "--threads", "1", "--segment-tokens", "256", "--margin-tokens", "4", "--answer-tokens", "4"]);
  ask();
  const r = ask();
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, /^warm cache: (\d+) of \1 segments already read; their margins are written again from the cache$/m);
  const listed = run(["cache"]);
  assert.match(listed.stdout, new RegExp(`^${join(cacheHome.path, "ask-codebase", "kv")}: [1-9]\\d* codebases?, [\\d.]+ [KM]iB of 4\\.0 GiB\n$`));
  const cleared = run(["cache", "--clear"]);
  assert.match(cleared.stdout, /: removed [1-9]\d* codebases? \(/);
  assert.match(run(["cache"]).stdout, /: 0 codebases, 0 bytes of /);
  assert.doesNotMatch(ask().stderr, /warm cache/, "cleared: read again");
  assert.match(run(["ask", dir.path, "x?", "--model", model, "--cache-mib=-1"]).stderr, /--cache-mib must be a whole number from 0 to/);
});

function interrupted(times: number): Promise<{ code: number | null; list: WimEvent[] }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [CLI, "ask", dir.path, "Where is c7?", "--model", model, "--json", "--threads", "1", "--segment-tokens", "256", "--margin-tokens", "48", "--answer-tokens", "200", "--cache-mib", "0"]);
    let out = "";
    let sent = 0;
    child.stdout.on("data", (d: Buffer) => {
      out += d;
      // Ctrl-C once the first margin is done; for the second, once the answer streams.
      if (sent === 0 && out.includes('"type":"margin-done"')) { sent++; child.kill("SIGINT"); }
      if (sent === 1 && times === 2 && out.includes('"type":"answer-token"')) { sent++; child.kill("SIGINT"); }
    });
    child.on("exit", (code) => done({ code, list: events(out) }));
  });
}

test("Ctrl-C while reading answers from what has been read", async () => {
  const { code, list } = await interrupted(1);
  const done = list.at(-1) as Extract<WimEvent, { type: "done" }>;
  const started = list[0] as Extract<WimEvent, { type: "run-started" }>;
  assert.equal(done.type, "done");
  assert.equal(done.stoppedBy, "answer-now");
  assert.ok(done.segmentsRead < started.segments, `${done.segmentsRead} of ${started.segments} read`);
  assert.equal(code, 0);
});

test("Ctrl-C again stops cleanly with status 130", async () => {
  const { code, list } = await interrupted(2);
  const done = list.at(-1) as Extract<WimEvent, { type: "done" }>;
  assert.equal(done.stoppedBy, "aborted");
  assert.ok(done.tokens.answer < 200);
  assert.equal(code, 130);
});

test("pack --json gives files, segments, skipped and total tokens", () => {
  writeFileSync(join(dir.path, "blob.bin"), Buffer.from([0, 1, 2]));
  const r = run(["pack", dir.path, "--model", model, "--json", "--segment-tokens", "256"]);
  assert.equal(r.status, 0, r.stderr);
  const plan = JSON.parse(r.stdout);
  assert.deepEqual(plan.files.map((f: { path: string }) => f.path), ["src/a.ts", "src/b.ts", "src/c.ts", "src/d.ts"]);
  assert.ok(plan.files.every((f: { lines: number; tokens: number }) => f.lines === 25 && f.tokens > 0));
  assert.equal(plan.totalTokens, plan.segments.reduce((n: number, s: { tokens: number }) => n + s.tokens, 0));
  assert.deepEqual(plan.skippedByReason, { binary: 1 });
  assert.ok(plan.segments.every((s: { tokens: number; sources: unknown[] }) => s.tokens <= 256 && s.sources.length > 0));
});

test("pack and ask leave out what the folder's .vscode/settings.json hides, say so, and --no-exclude-settings reads it all", () => {
  const own = tempDir();
  try {
    writeTree(own.path, {
      ".git/HEAD": "", "src/app.ts": "export const app = 1;\n", "src/api.gen.ts": "export const generated = 2;\n", "docs/old/notes.md": "old notes\n",
      // As VS Code writes it: comments and a trailing comma.
      ".vscode/settings.json": '{\n  // generated code\n  "files.exclude": { "**/*.gen.ts": true },\n  "search.exclude": { "docs/old": true, },\n}\n',
    });
    const read = (extra: string[]) => run(["pack", own.path, "--model", model, "--json", ...extra]);
    const hidden = read([]);
    assert.equal(hidden.status, 0, hidden.stderr);
    const plan = JSON.parse(hidden.stdout);
    assert.deepEqual(plan.files.map((f: { path: string }) => f.path), [".vscode/settings.json", "src/app.ts"]);
    assert.deepEqual(plan.skipped.filter((s: { reason: string }) => s.reason === "excluded").map((s: { path: string }) => s.path).sort(), ["docs/old/", "src/api.gen.ts"], "a hidden folder is skipped whole");
    assert.match(hidden.stderr, /leaving out what files\.exclude and search\.exclude hide in .*\.vscode\/settings\.json \(--no-exclude-settings reads it all\)/);
    const all = read(["--no-exclude-settings"]);
    assert.equal(all.status, 0, all.stderr);
    assert.deepEqual(JSON.parse(all.stdout).files.map((f: { path: string }) => f.path).sort(), [".vscode/settings.json", "docs/old/notes.md", "src/api.gen.ts", "src/app.ts"]);
    assert.doesNotMatch(all.stderr, /leaving out/);
    // A question reads the same files as the plan.
    const asked = run(["ask", own.path, "What is app?", "--model", model, "--json", "--threads", "1", "--margin-tokens", "4", "--answer-tokens", "4", "--cache-mib", "0"]);
    assert.equal(asked.status, 0, asked.stderr);
    assert.equal((events(asked.stdout)[0] as Extract<WimEvent, { type: "run-started" }>).files, 2);
  } finally {
    own.dispose();
  }
});

test("pack reads a legacy file in the files.encoding of the folder's .vscode/settings.json; --encoding names one for all", () => {
  const own = tempDir();
  try {
    writeTree(own.path, { ".git/HEAD": "", ".vscode/settings.json": '{ "files.encoding": "shiftjis", }\n' });
    // "日本語" in Shift-JIS: Windows-1252, the default, would read other letters.
    writeFileSync(join(own.path, "legacy.ts"), Buffer.concat([Buffer.from("// "), Buffer.from([0x93, 0xfa, 0x96, 0x7b, 0x8c, 0xea]), Buffer.from("\nexport const x = 1;\n")]));
    const legacy = (extra: string[]): { encoding?: string } => {
      const r = run(["pack", own.path, "--model", model, "--json", ...extra]);
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout).files.find((f: { path: string }) => f.path === "legacy.ts");
    };
    assert.equal(legacy([]).encoding, "shift_jis");
    assert.equal(legacy(["--encoding", "windows-1252"]).encoding, "windows-1252");
  } finally {
    own.dispose();
  }
});

for (const [name, args, message] of [
  ["not a folder", ["pack", join(dir.path, "blob.bin"), "--model", "x.gguf"], /^ask-codebase: not a folder: /],
  ["no such folder", ["pack", join(dir.path, "missing")], /^ask-codebase: no such folder: /],
  ["a missing model", ["ask", dir.path, "why?", "--model", join(dir.path, "none.gguf")], /^ask-codebase: model not found: /],
  ["a file that is not a model", ["pack", dir.path, "--model", join(dir.path, "blob.bin")], /^ask-codebase: not a GGUF model file: /],
  ["no question", ["ask", dir.path, "--model", "x.gguf"], /^ask-codebase: a question is required/],
  ["a bad number", ["ask", dir.path, "q", "--margin-tokens", "lots"], /^ask-codebase: --margin-tokens must be a whole number from 1 to 4,096, got "lots"/],
  ["an encoding with no decoder", ["pack", dir.path, "--encoding", "cp437"], /^ask-codebase: --encoding must be an encoding's name, such as windows-1252, .* got "cp437"/],
] as const) {
  test(`${name} ends with a one-line message and status 2`, () => {
    const r = run([...args]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, message);
    assert.equal(r.stderr.trim().split("\n").length, 1, r.stderr);
  });
}

test("files not in UTF-8 are read and named, in the legacy encoding --encoding gives", () => {
  const tree = tempDir();
  try {
    writeTree(tree.path, {
      // "日本語" in Shift-JIS, a UTF-16 script with its mark, and a plain file.
      "legacy.c": Buffer.concat([Buffer.from("/* "), Buffer.from([0x93, 0xfa, 0x96, 0x7b, 0x8c, 0xea]), Buffer.from(" */\nint legacy;\n")]),
      "wide.ps1": Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from("Write-Host 'hi'\r\n", "utf16le")]),
      "plain.ts": "export const plain = 1;\n",
    });
    const encodings = (args: string[]): Record<string, string | undefined> => {
      const r = run(["pack", tree.path, "--model", model, "--json", ...args]);
      assert.equal(r.status, 0, r.stderr);
      return Object.fromEntries(JSON.parse(r.stdout).files.map((f: { path: string; encoding?: string }) => [f.path, f.encoding]));
    };
    assert.deepEqual(encodings([]), { "legacy.c": "windows-1252", "plain.ts": undefined, "wide.ps1": "utf-16le" });
    assert.deepEqual(encodings(["--encoding", "shiftjis"]), { "legacy.c": "shift_jis", "plain.ts": undefined, "wide.ps1": "utf-16le" });
    const text = run(["pack", tree.path, "--model", model, "--encoding", "shift_jis"]);
    assert.match(text.stdout, /read 2 files not in UTF-8: (shift_jis 1, utf-16le 1|utf-16le 1, shift_jis 1)\n {4}legacy\.c, wide\.ps1\n/);
    const asked = run(["ask", tree.path, "What is legacy?", "--model", model, "--threads", "1", "--margin-tokens", "2", "--answer-tokens", "2", "--cache-mib", "0", "--encoding", "shift_jis"]);
    assert.equal(asked.status, 0, asked.stderr);
    assert.match(asked.stderr, /read 2 files not in UTF-8: /);
  } finally {
    tree.dispose();
  }
});

test("a file over the size cap is skipped as too large, and --max-file-kib reads it, in pieces", () => {
  const tree = tempDir();
  try {
    let big = "";
    for (let i = 0; big.length < 3000; i++) big += `export const value${i} = ${i};\n`;
    writeTree(tree.path, { "big.ts": big, "small.ts": "export const small = 1;\n" });
    const packed = (args: string[]): { files: { path: string }[]; skipped: { path: string; reason: string }[]; segments: unknown[] } => {
      const r = run(["pack", tree.path, "--model", model, "--json", "--segment-tokens", "256", ...args]);
      assert.equal(r.status, 0, r.stderr);
      return JSON.parse(r.stdout);
    };
    const capped = packed(["--max-file-kib", "2"]);
    assert.deepEqual(capped.files.map((f) => f.path), ["small.ts"]);
    assert.deepEqual(capped.skipped.map((s) => [s.path, s.reason]), [["big.ts", "too-large"]]);
    // A data file is read as its first lines whatever the cap, and pack names it.
    writeTree(tree.path, { "rows.csv": "a,b\n" + "1,2\n".repeat(30_000) });
    const named = run(["pack", tree.path, "--model", model, "--max-file-kib", "2"]);
    assert.match(named.stdout, /\n {2}read only the first lines of 1 large data file\n {4}rows\.csv\n/);
    rmSync(join(tree.path, "rows.csv"));
    const raised = packed(["--max-file-kib", "4"]);
    assert.deepEqual(raised.files.map((f) => f.path), ["big.ts", "small.ts"]);
    assert.ok(raised.segments.length > 1, "cut into pieces across segments");
    const bad = run(["pack", tree.path, "--model", model, "--max-file-kib", "0"]);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, /^ask-codebase: --max-file-kib must be a whole number from 1 to 65,536, got "0"/);
  } finally {
    tree.dispose();
  }
});

test("an empty folder is reported, not read; a folder of skipped files says why they were", () => {
  const empty = tempDir();
  try {
    const r = run(["ask", empty.path, "anything?", "--model", model, "--threads", "1"]);
    assert.equal(r.status, 2);
    assert.match(r.stderr, /^ask-codebase: nothing to read in \S+\n$/);
    writeFileSync(join(empty.path, "a.bin"), Buffer.from([0x7f, 0x45, 0, 1, 2]));
    const one = run(["ask", empty.path, "anything?", "--model", model, "--threads", "1"]);
    assert.match(one.stderr, /^ask-codebase: nothing to read in \S+ \(1 file skipped: binary 1\)\n$/);
    writeFileSync(join(empty.path, "package-lock.json"), "{}\n");
    const two = run(["ask", empty.path, "anything?", "--model", model, "--threads", "1"]);
    assert.equal(two.status, 2);
    assert.match(two.stderr, /\(2 files skipped: (binary 1, lockfile 1|lockfile 1, binary 1)\)/);
  } finally {
    empty.dispose();
  }
});

test("what the model writes and what files are named reach the terminal as text, never as escape sequences", () => {
  const hostile = testModelPath("tiny", { hostile: true });
  const tree = tempDir();
  try {
    writeTree(tree.path, { [`src/title\u001b]0;owned\u0007\u202e.ts`]: "export const x = 1;\n" });
    const args = ["ask", tree.path, "What is x?", "--model", hostile, "--threads", "1", "--classify", "separate", "--cache-mib", "0"];
    const json = run([...args, "--json"]);
    assert.equal(json.status, 0, json.stderr);
    const done = events(json.stdout).find((e) => e.type === "done") as Extract<WimEvent, { type: "done" }>;
    assert.equal(done.answer, HOSTILE_OUTPUT.join(""), "the scripted model wrote its script, escapes and all, through the engine");
    for (const r of [run(args), run(["pack", tree.path, "--model", hostile])]) {
      assert.equal(r.status, 0, r.stderr);
      const shown = r.stdout + r.stderr;
      assert.doesNotMatch(shown, /[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/, "no control character or bidirectional override is printed");
      assert.match(shown, /src\/title\\x1b\]0;owned\\x07\\u202e\.ts/, "the file name is shown with its escapes spelled out");
    }
    const text = run(args).stdout;
    assert.ok(text.includes(HOSTILE_LITERAL), "the model's Markdown is printed as written");
    assert.ok(text.includes("\\x1b]52;c;cGF5bG9hZA==\\x07"), "a clipboard-writing escape is spelled out, not sent");
  } finally {
    tree.dispose();
  }
});
