// The CLI against what a hostile user or a bad disk hands it: each class of fault ends with one
// line and the right status, loses nothing, and never hangs.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import type { WimEvent } from "../../src/core/wim/events";
import { BAD_MODELS, writeBadModel } from "../support/badModels";
import { tempDir, writeTree } from "../support/fixtures";
import { testModelPath } from "../support/models";

// ASK_CODEBASE_TEST_CLI points the tests at another build (an older one, to see them fail before a fix).
const CLI = resolve(process.env.ASK_CODEBASE_TEST_CLI ?? "dist/cli.js");
const dir = tempDir();
const home = tempDir();
let model: string;

before(() => {
  model = testModelPath("tiny");
  const files: Record<string, string> = {};
  for (const name of ["a", "b", "c"]) files[`src/${name}.ts`] = Array.from({ length: 25 }, (_, i) => `export const ${name}${i} = (x: number) => x * ${i}; // ${name} ${i}\n`).join("");
  writeTree(dir.path, files);
});
after(() => {
  dir.dispose();
  home.dispose();
});

function run(args: string[], env: NodeJS.ProcessEnv = {}): { status: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: "utf8", timeout: 120_000, env: { ...process.env, ASK_CODEBASE_MODEL: undefined, XDG_CACHE_HOME: home.path, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}
const oneLine = (stderr: string): boolean => stderr.trim().split("\n").length === 1 && !/\n\s+at /.test(stderr);
const quick = ["--threads", "1", "--segment-tokens", "256", "--margin-tokens", "4", "--answer-tokens", "4"];

test("a damaged model ends with one line and status 2 before any native code reads it, whatever the damage", () => {
  for (const kind of BAD_MODELS) {
    const path = join(dir.path, `bad-${kind}.gguf`);
    writeBadModel(path, kind);
    for (const args of [["ask", dir.path, "why?", "--model", path, ...quick], ["pack", dir.path, "--model", path]]) {
      const r = run(args);
      assert.equal(r.status, 2, `${kind}, ${args[0]}: ${r.stderr}`);
      assert.match(r.stderr, /^ask-codebase: the model file is damaged or not one llama\.cpp can read: .+/, kind);
      assert.ok(oneLine(r.stderr), `${kind}, ${args[0]}: ${r.stderr}`);
    }
  }
});

test("smaller mistakes are refused up front with what is allowed, naming where they came from", () => {
  const cases: [string[], NodeJS.ProcessEnv, RegExp][] = [
    [["ask", dir.path, "q", "--model", model, "--model", model], {}, /--model was given more than once/],
    [["ask", dir.path, "q"], { ASK_CODEBASE_MODEL: "" }, /ASK_CODEBASE_MODEL is set but empty/],
    [["ask", dir.path, "q"], { ASK_CODEBASE_MODEL: join(dir.path, "nope.gguf") }, /model not found: .*nope\.gguf \(from \$ASK_CODEBASE_MODEL\)/],
    [["ask", dir.path, "q", "--model", model, "--segment-tokens", "1e20"], {}, /--segment-tokens must be a whole number from 64 to 131,072, got "1e20"/],
    [["ask", dir.path, "q", "--model", model, "--threads", "100000"], {}, /--threads must be a whole number from 0 to 1,024/],
    [["ask", dir.path, "q", "--model", model, "--classify", "fused", "--no-classify"], {}, /--classify and --no-classify contradict each other/],
    [["ask", dir.path, "x".repeat(40_000), "--model", model, "--threads", "1"], {}, /the question is too long: [\d,]+ tokens, at most 2,048/],
  ];
  for (const [args, env, message] of cases) {
    const r = run(args, env);
    assert.equal(r.status, 2, `${args.slice(3).join(" ").slice(0, 60)}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.ok(oneLine(r.stderr), r.stderr);
    // Refused before the model loads: nothing about loading it was said.
    assert.doesNotMatch(r.stderr, /reading \d+ files/);
  }
});

test("clearing a folder that is not a cache is refused and deletes nothing; a cache is cleared of its own files only", () => {
  const project = tempDir();
  try {
    writeTree(project.path, { "package.json": "{}\n", "src/main.ts": "x\n", "0123.state": "a lookalike\n" });
    const refused = run(["cache", "--clear", "--cache-dir", project.path]);
    assert.equal(refused.status, 2);
    assert.match(refused.stderr, /is not an ask-codebase cache: .*Nothing was removed\./);
    assert.deepEqual(readdirSync(project.path).sort(), ["0123.state", "package.json", "src"]);
    // A real cache, with a file of the user's put beside it.
    const cacheDir = join(project.path, "kv");
    assert.equal(run(["ask", dir.path, "What is a3?", "--model", model, ...quick, "--cache-dir", cacheDir]).status, 0);
    writeFileSync(join(cacheDir, "my-notes.txt"), "keep me\n");
    assert.match(run(["cache", "--cache-dir", cacheDir]).stdout, /: 1 codebase, .*; 1 files the cache did not write \(left alone\)/);
    const cleared = run(["cache", "--clear", "--cache-dir", cacheDir]);
    assert.equal(cleared.status, 0, cleared.stderr);
    assert.match(cleared.stdout, /removed 1 codebase \(\d+ files, .*\); left 1 file the cache did not write/);
    assert.deepEqual(readdirSync(cacheDir), ["my-notes.txt"]);
  } finally {
    project.dispose();
  }
});

test("a warm-cache state damaged without changing its size is caught by its checksum: said once, read cold, same margins", () => {
  const cacheDir = join(home.path, "checksum");
  const ask = (): ReturnType<typeof run> => run(["ask", dir.path, "What is b2?", "--model", model, ...quick, "--json", "--cache-dir", cacheDir]);
  const margins = (out: string): string[] => out.trim().split("\n").map((l) => JSON.parse(l) as WimEvent).filter((e) => e.type === "margin-done").map((e) => (e as Extract<WimEvent, { type: "margin-done" }>).text);
  const cold = ask();
  assert.equal(cold.status, 0, cold.stderr);
  const state = readdirSync(cacheDir).find((n) => n.endsWith(".state"))!;
  const bytes = readFileSync(join(cacheDir, state));
  bytes[Math.floor(bytes.length / 2)] ^= 0x55;
  writeFileSync(join(cacheDir, state), bytes);
  const damaged = ask();
  assert.equal(damaged.status, 0, damaged.stderr);
  const started = JSON.parse(damaged.stdout.split("\n")[0]!) as Extract<WimEvent, { type: "run-started" }>;
  assert.match(started.cacheNote ?? "", /did not match its checksum: it was dropped, and the codebase is read again/);
  assert.equal(started.reusedSegments, 0);
  assert.deepEqual(margins(damaged.stdout), margins(cold.stdout), "the margins are a cold run's");
  const next = ask();
  const again = JSON.parse(next.stdout.split("\n")[0]!) as Extract<WimEvent, { type: "run-started" }>;
  assert.equal(again.cacheNote, undefined, "said once");
  assert.ok(again.reusedSegments > 0, "the entry saved after the cold read is used");
});

test("a read-only cache folder: its valid entry is used", (t) => {
  const cacheDir = join(home.path, "rw");
  const readOnly = join(home.path, "ro");
  mkdirSync(readOnly, { recursive: true });
  assert.equal(run(["ask", dir.path, "What is c4?", "--model", model, ...quick, "--cache-dir", cacheDir]).status, 0);
  try {
    execFileSync("mount", ["--bind", cacheDir, readOnly], { stdio: "ignore" });
    execFileSync("mount", ["-o", "remount,bind,ro", readOnly], { stdio: "ignore" });
  } catch {
    t.skip("a read-only bind mount needs root");
    return;
  }
  try {
    const r = run(["ask", dir.path, "What is c5?", "--model", model, ...quick, "--cache-dir", readOnly]);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /^warm cache: (\d+) of \1 segments already read/m);
  } finally {
    execFileSync("umount", [readOnly], { stdio: "ignore" });
  }
});

test("FIFOs, sockets and links to them are skipped by reason and never opened: planning does not hang", async () => {
  const tree = tempDir();
  const server = createServer();
  try {
    writeTree(tree.path, { "a.ts": "export const a = 1;\n" });
    execFileSync("mkfifo", [join(tree.path, "pipe")]);
    symlinkSync("pipe", join(tree.path, "link-to-pipe"));
    await new Promise<void>((done) => server.listen(join(tree.path, "sock"), done));
    const r = run(["pack", tree.path, "--model", model, "--json"]);
    assert.equal(r.status, 0, r.stderr);
    const plan = JSON.parse(r.stdout) as { files: { path: string }[]; skipped: { path: string; reason: string; detail?: string }[] };
    assert.deepEqual(plan.files.map((f) => f.path), ["a.ts"]);
    assert.deepEqual(plan.skipped.map((s) => `${s.path}: ${s.reason} (${s.detail})`).sort(), [
      "link-to-pipe: special-file (a link to a FIFO)", "pipe: special-file (a FIFO)", "sock: special-file (a socket)",
    ]);
  } finally {
    server.close();
    tree.dispose();
  }
});

test("Ctrl-C while planning stops; a second Ctrl-C ends the command even when the engine does not answer", async () => {
  const big = tempDir();
  try {
    // Enough files that planning is still going when the first Ctrl-C comes.
    for (let d = 0; d < 100; d++) {
      mkdirSync(join(big.path, `d${d}`));
      for (let f = 0; f < 100; f++) writeFileSync(join(big.path, `d${d}`, `f${f}.ts`), `export const v${d}_${f} = ${f};\n`.repeat(20));
    }
    const askBig = ["ask", big.path, "What is v3_7?", "--model", model, "--threads", "1", "--cache-mib", "0"];
    const planning = await interrupt(askBig, /listing the folder|reading:/, 1);
    assert.equal(planning.code, 130, planning.stderr);
    // As the plan comes back, before the reading starts (the engine reads the plan's files again
    // first): still a stop, nothing read. It was lost once, and the run read 10,000 files.
    const asPlanned = await interrupt(askBig, /^listed by/m, 1, false, 120_000);
    assert.equal(asPlanned.code, 130, asPlanned.stderr);
    assert.doesNotMatch(asPlanned.stderr, /^reading \d+ files/m);
    // The engine frozen mid-run (SIGSTOP): the first Ctrl-C asks it to answer, the second ends everything.
    const frozen = await interrupt(["ask", dir.path, "What is a9?", "--model", model, "--threads", "1", "--margin-tokens", "2000", "--segment-tokens", "256", "--cache-mib", "0"], /^reading \d+ files/m, 2, true);
    assert.equal(frozen.code, 130, frozen.stderr);
    assert.ok(frozen.afterLastMs < 3000, `the command ended ${frozen.afterLastMs} ms after the second Ctrl-C`);
    // SIGKILL reaches a stopped process; give the kernel a moment to take it down.
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(frozen.engine && !alive(frozen.engine), "and the engine with it");
  } finally {
    big.dispose();
  }
});

test("a tokenizer helper process killed mid-plan ends the command with one line", async () => {
  // A vocabulary with no cut rule (the hostile model's) is tokenized whole, in helper processes, past 2 MB.
  const big = tempDir();
  try {
    for (let f = 0; f < 60; f++) writeFileSync(join(big.path, `f${f}.ts`), `export function f${f}_x(a: number) { return a * ${f}; } // padding text\n`.repeat(700));
    const r = await new Promise<{ code: number | null; stderr: string }>((done) => {
      const child = spawn(process.execPath, [CLI, "pack", big.path, "--model", testModelPath("tiny", { hostile: true })], { env: { ...process.env, XDG_CACHE_HOME: home.path } });
      let stderr = "";
      child.stderr.on("data", (d: Buffer) => (stderr += d));
      const hunt = setInterval(() => {
        const helpers = spawnSync("ps", ["-o", "pid=,args=", "--ppid", String(child.pid)], { encoding: "utf8" }).stdout.split("\n")
          .filter((l) => l.includes("tokenizerWorker")).map((l) => Number(l.trim().split(/\s+/)[0]));
        for (const pid of helpers) {
          try { process.kill(pid, "SIGKILL"); clearInterval(hunt); return; } catch { /* gone already: look again */ }
        }
      }, 20);
      child.on("exit", (code) => { clearInterval(hunt); done({ code, stderr }); });
    });
    assert.equal(r.code, 1, r.stderr);
    assert.match(r.stderr, /^ask-codebase: planning failed: a tokenizer process exited \(SIGKILL\)/);
    assert.ok(oneLine(r.stderr), r.stderr);
  } finally {
    big.dispose();
  }
});

/** Running, not merely a zombie waiting to be reaped (its parent has gone: init reaps it in its own time). */
function alive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return stat.slice(stat.lastIndexOf(")") + 2, stat.lastIndexOf(")") + 3) !== "Z";
  } catch {
    return false;
  }
}

/** Runs the CLI and sends it Ctrl-C `times` when stderr matches `when`; a command still running at `deadlineMs` is killed (code null). */
function interrupt(args: string[], when: RegExp, times: number, freezeEngine = false, deadlineMs?: number): Promise<{ code: number | null; stderr: string; afterLastMs: number; engine?: number }> {
  return new Promise((done) => {
    const child = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, XDG_CACHE_HOME: home.path } });
    const deadline = deadlineMs ? setTimeout(() => {
      try {
        for (const pid of execFileSync("ps", ["-o", "pid=", "--ppid", String(child.pid)], { encoding: "utf8" }).split("\n").map(Number).filter(Boolean)) process.kill(pid, "SIGKILL");
      } catch {
        // No engine (ps found none), or it went meanwhile.
      }
      child.kill("SIGKILL");
    }, deadlineMs) : undefined;
    let stderr = "";
    let sent = 0;
    let lastAt = 0;
    let engine: number | undefined;
    child.stderr.on("data", (d: Buffer) => {
      stderr += d;
      if (sent || !when.test(stderr)) return;
      sent = 1;
      if (freezeEngine) {
        engine = Number(execFileSync("ps", ["-o", "pid=", "--ppid", String(child.pid)], { encoding: "utf8" }).trim().split("\n")[0]);
        process.kill(engine, "SIGSTOP");
      }
      child.kill("SIGINT");
      lastAt = performance.now();
      if (times > 1) setTimeout(() => { child.kill("SIGINT"); lastAt = performance.now(); }, 300);
    });
    child.on("exit", (code) => {
      clearTimeout(deadline);
      if (engine && alive(engine)) { try { process.kill(engine, "SIGKILL"); } catch { /* gone */ } }
      done({ code, stderr, afterLastMs: performance.now() - lastAt, ...(engine ? { engine } : {}) });
    });
  });
}
