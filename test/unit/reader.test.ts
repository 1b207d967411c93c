import { test } from "node:test";
import assert from "node:assert/strict";
import { chmodSync, mkdirSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { spawnSync } from "node:child_process";
import { countByReason, encodingFor, readWorkspace } from "../../src/core/workspace/reader";
import { planCodebase } from "../../src/core/plan";
import { git, gitListed, link, tempDir, writeTree } from "../support/fixtures";

const GITIGNORE_TREE: Record<string, string | Buffer> = {
  ".gitignore": "*.log\n!important.log\nbuild/\n/only-root.txt\ncache/*\n!cache/keep.txt\n**/deep/*.txt\n",
  "README.md": "# demo\n",
  "only-root.txt": "ignored at the root\n",
  "important.log": "kept by negation\n",
  "debug.log": "ignored\n",
  "build/out.js": "ignored dir\n",
  "cache/a.txt": "ignored\n",
  "cache/keep.txt": "re-included\n",
  "src/index.ts": "export const a = 1;\n",
  "src/only-root.txt": "not anchored here, so kept\n",
  "src/.gitignore": "*.tmp\n!keep.tmp\ngen/\n",
  "src/x.tmp": "ignored by nested rule\n",
  "src/keep.tmp": "kept by nested negation\n",
  "src/gen/g.ts": "ignored nested dir rule\n",
  "src/lib/.gitignore": "!*.log\n",
  "src/lib/trace.log": "re-included below the root's *.log\n",
  "src/lib/util.ts": "export function util() {}\n",
  "src/a/deep/x.txt": "ignored by **/deep\n",
  "src/a/deep/x.md": "kept\n",
  "notes/private.md": "excluded by info/exclude\n",
  "notes/public.md": "kept\n",
  "untracked/new.ts": "untracked but not ignored\n",
};

test("on a git repository the files read equal git ls-files minus the skipped ones", async () => {
  const dir = tempDir();
  try {
    const root = dir.path;
    git(root, "init", "-q");
    writeTree(root, GITIGNORE_TREE);
    writeFileSync(join(root, ".git/info/exclude"), "notes/private.md\n");
    // A tracked file that an ignore rule matches: git keeps listing it, so must we.
    writeTree(root, { "tracked.log": "tracked despite *.log\n", "build/tracked.js": "tracked inside an ignored dir\n" });
    git(root, "add", "-A");
    git(root, "add", "-f", "tracked.log", "build/tracked.js");
    git(root, "commit", "-qm", "init");
    writeTree(root, {
      "untracked/later.ts": "added after the commit\n",
      "assets/logo.png": Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]),
      "data/latin1.txt": Buffer.from([0x63, 0x61, 0x66, 0xe9, 0x0a]),
      "package-lock.json": "{}\n",
      "vendor/lib.min.js": "var a=1;\n",
    });
    link(root, "links/loop", "loop");
    link(root, "links/outside", "/etc/hostname");
    link(root, "links/readme", "../README.md");

    const listed = new Set(gitListed(root));
    const { files, skipped } = await readWorkspace([root]);
    const read = files.map((f) => f.path);
    const skippedPaths = new Set(skipped.map((s) => s.path));
    for (const p of read) assert.ok(!skippedPaths.has(p), `${p} both read and skipped`);
    assert.deepEqual(new Set([...read, ...skippedPaths]), listed, "read + skipped must equal git ls-files");
    assert.deepEqual([...listed].filter((p) => !skippedPaths.has(p)).sort(), read, "read = ls-files minus skipped, in sorted order");
    // Spot checks that would catch a wrong precedence rule.
    for (const p of ["important.log", "cache/keep.txt", "src/keep.tmp", "src/lib/trace.log", "src/only-root.txt", "tracked.log", "build/tracked.js", "links/readme"]) {
      assert.ok(read.includes(p), `${p} should be read`);
    }
    for (const p of ["debug.log", "only-root.txt", "src/x.tmp", "src/gen/g.ts", "src/a/deep/x.txt", "notes/private.md", "build/out.js"]) {
      assert.ok(!read.includes(p), `${p} should be ignored`);
    }
    assert.deepEqual(countByReason(skipped), { binary: 1, lockfile: 1, generated: 1, "symlink-loop": 1, "symlink-outside": 1 });
    assert.equal(files.find((f) => f.path === "data/latin1.txt")?.text, "café\n", "a Latin-1 file is text, as git diffs it");
  } finally {
    dir.dispose();
  }
});

test("honours .askcodebaseignore at any level and caller include / exclude globs", async () => {
  const dir = tempDir();
  try {
    writeTree(dir.path, {
      ".askcodebaseignore": "fixtures/\n",
      "fixtures/big.json": "{}\n",
      "src/a.ts": "a\n",
      "src/a.test.ts": "t\n",
      "src/sub/.askcodebaseignore": "*.md\n",
      "src/sub/b.ts": "b\n",
      "src/sub/notes.md": "n\n",
      "docs/guide.md": "g\n",
    });
    // The ignore files are files like any other (git lists .gitignore too).
    assert.deepEqual((await readWorkspace([dir.path])).files.map((f) => f.path), [
      ".askcodebaseignore", "docs/guide.md", "src/a.test.ts", "src/a.ts", "src/sub/.askcodebaseignore", "src/sub/b.ts",
    ]);
    const scoped = await readWorkspace([dir.path], { include: ["src/**"], exclude: ["*.test.ts"] });
    assert.deepEqual(scoped.files.map((f) => f.path), ["src/a.ts", "src/sub/.askcodebaseignore", "src/sub/b.ts"]);
    const noGit = await readWorkspace([dir.path], { exclude: ["docs/"] });
    assert.ok(!noGit.files.some((f) => f.path.startsWith("docs/")));
  } finally {
    dir.dispose();
  }
});

test("skips by reason without throwing: size cap, minified, generated marker, control bytes that are no encoding's text", async () => {
  const dir = tempDir();
  try {
    writeTree(dir.path, {
      "big.txt": "x".repeat(5000) + "\n",
      "ok.txt": "fine\n",
      "bundle.js": ("var a=function(){return 1};").repeat(120),
      "api.go": "// Code generated by protoc-gen-go. DO NOT EDIT.\npackage api\n",
      "bad.txt": Buffer.concat([Buffer.from("text then "), Buffer.from([0xff, 0x01, 0x02, 0x03, 0x8f, 0x04]), Buffer.from("\n")]),
      "latin1.c": Buffer.from("/* café, naïve */\r\nint x;\r\n", "latin1"),
      "wide.ps1": Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from("Write-Host 'größe'\r\n", "utf16le")]),
      "crlf.txt": "a\r\nb\r\n",
      // A Git LFS pointer in place of a model file that was never pulled; a file that only quotes one is read.
      "weights.bin": "version https://git-lfs.github.com/spec/v1\noid sha256:4d7a214614ab2935c943f9e0ff69d22eadbb8f32b1258daaa5e2ca24d17e2393\nsize 12345\n",
      "lfs-notes.md": "version https://git-lfs.github.com/spec/v1 is the pointer format.\n",
      // Classic Mac OS line breaks: one line per CR, as the editor shows it, not one long (minified) line.
      "mac.txt": Array.from({ length: 40 }, (_, i) => `line ${i} ${"x".repeat(60)}`).join("\r") + "\r",
      "bom.txt": "\ufeffhello\n",
    });
    // A file whose name is Latin-1 bytes, not UTF-8.
    writeFileSync(Buffer.concat([Buffer.from(dir.path + "/caf"), Buffer.from([0xe9]), Buffer.from(".txt")]), "named in Latin-1\n");
    const { files, skipped } = await readWorkspace([dir.path], { maxFileBytes: 4096 });
    assert.deepEqual(files.map((f) => f.path), ["bom.txt", "crlf.txt", "latin1.c", "lfs-notes.md", "mac.txt", "ok.txt", "wide.ps1"]);
    const mac = files[4]!.text;
    assert.equal(mac.split("\n").length, 41);
    assert.ok(!mac.includes("\r"));
    assert.equal(files[0]!.text, "hello\n");
    assert.equal(files[1]!.text, "a\nb\n");
    // Not UTF-8 is not binary: read as an editor shows them, newlines made LF, and said how.
    assert.deepEqual([files[2]!.text, files[2]!.decoded], ["/* café, naïve */\nint x;\n", { encoding: "windows-1252", replaced: 0 }]);
    assert.deepEqual([files[6]!.text, files[6]!.decoded], ["Write-Host 'größe'\n", { encoding: "utf-16le", replaced: 0 }]);
    assert.equal(files[0]!.decoded, undefined);
    assert.deepEqual(Object.fromEntries(skipped.map((s) => [s.path, s.reason])), {
      "api.go": "generated", "bad.txt": "binary", "big.txt": "too-large", "bundle.js": "minified", "caf\ufffd.txt": "unreadable", "weights.bin": "lfs-pointer",
    });
  } finally {
    dir.dispose();
  }
});

test("recent-last order: files modified in the last day go last, oldest first; the rest by path", async () => {
  const dir = tempDir();
  try {
    writeTree(dir.path, { "b.ts": "b\n", "a.ts": "a\n", "z.ts": "z\n", "c.ts": "c\n", "d.ts": "d\n" });
    const at = (rel: string, msAgo: number): void => { const t = new Date(Date.now() - msAgo); utimesSync(join(dir.path, rel), t, t); };
    at("a.ts", 3 * 86400_000);
    at("b.ts", 2 * 86400_000);
    at("z.ts", 60_000);
    at("c.ts", 30_000);
    at("d.ts", 30_000);
    const paths = async (order?: "path" | "recent-last"): Promise<string[]> => (await readWorkspace([dir.path], order ? { order } : {})).files.map((f) => f.path);
    assert.deepEqual(await paths(), ["a.ts", "b.ts", "c.ts", "d.ts", "z.ts"]);
    assert.deepEqual(await paths("recent-last"), ["a.ts", "b.ts", "z.ts", "c.ts", "d.ts"]);
    // Editing a file moves it to the end and leaves the order before it alone.
    at("a.ts", 0);
    assert.deepEqual(await paths("recent-last"), ["b.ts", "z.ts", "c.ts", "d.ts", "a.ts"]);
  } finally {
    dir.dispose();
  }
});

test("an editor's unsaved text is read in place of the disk's, under the same rules, and goes last as the newest", async () => {
  const dir = tempDir();
  try {
    const root = dir.path;
    git(root, "init", "-q");
    const cell = (source: string[]): object => ({ cell_type: "code", metadata: {}, execution_count: 1, outputs: [], source });
    const notebook = (source: string[]): string => JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: { kernelspec: { language: "python" } }, cells: [cell(source)] });
    writeTree(root, {
      ".gitignore": "secret.ts\n", "a.ts": "export const a = 1;\n", "b.ts": "export const b = 2;\n", "secret.ts": "export const key = 'on disk';\n",
      "min.js": "var x = 1;\n", "nb.ipynb": notebook(["saved = 1\n"]),
    });
    const old = new Date(Date.now() - 3 * 86400_000);
    utimesSync(join(root, "a.ts"), old, old);
    const edited = "export const a = 1;\r\nexport const addedInEditor = 3;\r\n";
    const unsaved = new Map<string, string>([
      // A path spelled another way still names the file.
      [join(root, "sub", "..", "a.ts"), edited],
      // Ignored on disk: ignored unsaved too.
      [join(root, "secret.ts"), "export const key = 'typed';\n"],
      // Unsaved text is held to the same rules: a minified line is not read.
      [join(root, "min.js"), `var y = [${"1,".repeat(30_000)}1];`],
      [join(root, "nb.ipynb"), notebook(["unsaved = 2\n"])],
      // Outside the roots: nothing to stand in for.
      [join(dirname(root), "elsewhere.ts"), "export const far = 1;\n"],
    ]);
    const { files, skipped } = await readWorkspace([root], { unsaved, order: "recent-last" });
    const a = files.find((f) => f.path === "a.ts")!;
    assert.equal(a.text, "export const a = 1;\nexport const addedInEditor = 3;\n");
    assert.equal(a.bytes, Buffer.byteLength(edited));
    assert.deepEqual([a.unsaved, a.diskBytes], [true, 20]);
    assert.equal(files.find((f) => f.path === "b.ts")!.unsaved, undefined);
    assert.ok(files.find((f) => f.path === "nb.ipynb")!.text.includes("unsaved = 2"));
    assert.deepEqual(skipped.map((s) => [s.path, s.reason]), [["min.js", "minified"]]);
    assert.ok(!files.some((f) => f.path === "secret.ts" || f.text.includes("far")));
    // Edited long ago on disk, being edited now: the unsaved files go last.
    assert.deepEqual(files.map((f) => f.path), [".gitignore", "b.ts", "a.ts", "nb.ipynb"]);
  } finally {
    dir.dispose();
  }
});

test("a tracked file deleted on disk and open with changes in an editor is read as the editor holds it; deleted and not open, it is skipped", async () => {
  const dir = tempDir();
  try {
    const root = dir.path;
    git(root, "init", "-q");
    writeTree(root, { "kept.ts": "export const kept = 1;\n", "gone.ts": "export const gone = 1;\n", "lost.ts": "export const lost = 1;\n", ".gitignore": "ignored.ts\n" });
    git(root, "add", "-A");
    git(root, "-c", "user.email=t@example.com", "-c", "user.name=t", "commit", "-qm", "files");
    for (const f of ["gone.ts", "lost.ts"]) rmSync(join(root, f));
    const unsaved = new Map([
      [join(root, "gone.ts"), "export const gone = 2; // typed after the file was deleted\n"],
      // Never tracked and not on disk: nothing says it belongs to the codebase.
      [join(root, "new.ts"), "export const fresh = 1;\n"],
    ]);
    const { files, skipped } = await readWorkspace([root], { unsaved });
    const gone = files.find((f) => f.path === "gone.ts");
    assert.ok(gone, JSON.stringify(files.map((f) => f.path)));
    assert.equal(gone.text, "export const gone = 2; // typed after the file was deleted\n");
    assert.deepEqual([gone.unsaved, gone.deleted, gone.diskBytes], [true, true, undefined]);
    assert.deepEqual(skipped.map((s) => [s.path, s.reason]), [["lost.ts", "not-in-worktree"]]);
    assert.deepEqual(files.map((f) => f.path).sort(), [".gitignore", "gone.ts", "kept.ts"]);
  } finally {
    dir.dispose();
  }
});

test("a large data file is read as its first lines, whatever its size; a small one whole, code never cut", async () => {
  const dir = tempDir();
  try {
    const rows = (n: number): string => "id,name,price\n" + Array.from({ length: n }, (_, i) => `${i},item ${i},${i * 3}.50`).join("\n") + "\n";
    const big = rows(200_000);
    writeTree(dir.path, {
      "data/sales.csv": big, "fixtures/small.csv": rows(10), "logs/app.LOG": "started\n".repeat(20_000),
      "data/wide.jsonl": `{"k":"${"v".repeat(70_000)}"}\n`, "src/big.ts": "export const x = 1;\n".repeat(5000),
    });
    const { files, skipped } = await readWorkspace([dir.path], { maxFileBytes: 1024 * 1024 });
    const byPath = new Map(files.map((f) => [f.path, f]));
    const sales = byPath.get("data/sales.csv")!;
    // Past the 1 MiB cap, and read: its header row and 24 rows, said to be the start of 5.4 MiB.
    assert.ok(big.length > 5 * 1024 * 1024);
    assert.equal(sales.text, big.split("\n").slice(0, 25).join("\n") + "\n");
    assert.deepEqual([sales.excerpt, sales.diskBytes, sales.bytes], [`a data file of ${(big.length / 1048576).toFixed(1)} MiB, not read further`, big.length, Buffer.byteLength(sales.text)]);
    assert.equal(byPath.get("fixtures/small.csv")!.text, rows(10));
    assert.equal(byPath.get("fixtures/small.csv")!.excerpt, undefined);
    assert.equal(byPath.get("logs/app.LOG")!.text, "started\n".repeat(25));
    // Code is read whole, however large (under the cap).
    assert.equal(byPath.get("src/big.ts")!.text.length, 100_000);
    assert.deepEqual(skipped.map((s) => [s.path, s.reason]), [["data/wide.jsonl", "line-too-long"]]);
    // Under a cap smaller than the head, a data file over the cap is read as its head, not skipped.
    const capped = await readWorkspace([join(dir.path, "fixtures")], { maxFileBytes: 100 });
    assert.deepEqual(capped.skipped, []);
    const head = rows(10).slice(0, 100);
    assert.equal(capped.files[0]!.text, head.slice(0, head.lastIndexOf("\n") + 1));
    assert.equal(capped.files[0]!.excerpt, `a data file of ${rows(10).length} bytes, not read further`);
  } finally {
    dir.dispose();
  }
});

test("several roots are read in a deterministic order, each under its own name", async () => {
  const a = tempDir("ask-a-");
  const b = tempDir("ask-b-");
  try {
    writeTree(a.path, { "z.ts": "z\n", "m/a.ts": "a\n" });
    writeTree(b.path, { "y.ts": "y\n" });
    const first = await readWorkspace([a.path, b.path], { concurrency: 1 });
    const second = await readWorkspace([a.path, b.path], { concurrency: 64 });
    assert.deepEqual(first.files.map((f) => f.path), second.files.map((f) => f.path));
    const nameA = a.path.split("/").pop()!;
    const nameB = b.path.split("/").pop()!;
    assert.deepEqual(first.files.map((f) => f.path).sort(), [`${nameA}/m/a.ts`, `${nameA}/z.ts`, `${nameB}/y.ts`].sort());
  } finally {
    a.dispose();
    b.dispose();
  }
});

test("files and folders it may not read are skipped as unreadable (checked as an unprivileged user)", async (t) => {
  const dir = tempDir();
  try {
    writeTree(dir.path, { "open.txt": "yes\n", "secret.txt": "no\n", "locked/inner.txt": "no\n" });
    chmodSync(join(dir.path, "secret.txt"), 0o000);
    chmodSync(join(dir.path, "locked"), 0o000);
    chmodSync(dir.path, 0o755);
    if (process.getuid?.() !== 0) {
      const { files, skipped } = await readWorkspace([dir.path]);
      assert.deepEqual(files.map((f) => f.path), ["open.txt"]);
      assert.deepEqual(countByReason(skipped), { unreadable: 2 });
      return;
    }
    // Root reads everything, so the same check runs in a child process as "nobody", which needs
    // to read this checkout: a clone in a private folder (mktemp -d is 0700) it cannot.
    const nobody = { uid: 65534, gid: 65534, encoding: "utf8" as const };
    const probe = spawnSync(process.execPath, ["-e", `require("fs").accessSync(${JSON.stringify(join(process.cwd(), "node_modules/tsx/package.json"))})`], nobody);
    if (probe.status !== 0) { t.skip("this checkout is not readable by nobody"); return; }
    mkdirSync(dir.path, { recursive: true });
    const script = `import("${join(process.cwd(), "src/core/workspace/reader.ts")}").then(async (m) => {
      const r = await m.readWorkspace([${JSON.stringify(dir.path)}]);
      console.log(JSON.stringify({ files: r.files.map((f) => f.path), skipped: r.skipped }));
    });`;
    const child = spawnSync(process.execPath, ["--import", "tsx", "-e", script], { ...nobody, cwd: process.cwd(), env: { ...process.env, HOME: dir.path, TSX_TSCONFIG_PATH: join(process.cwd(), "tsconfig.json") } });
    assert.equal(child.status, 0, child.stderr);
    const out = JSON.parse(child.stdout.trim().split("\n").pop()!);
    assert.deepEqual(out.files, ["open.txt"]);
    assert.deepEqual(out.skipped.map((s: { path: string; reason: string }) => [s.path, s.reason]), [["locked", "unreadable"], ["secret.txt", "unreadable"]]);
  } finally {
    chmodSync(join(dir.path, "locked"), 0o755);
    dir.dispose();
  }
});

test("a 50 MiB file is skipped by its size without being read", async () => {
  const dir = tempDir();
  try {
    const { openSync, ftruncateSync, closeSync } = await import("node:fs");
    writeTree(dir.path, { "small.ts": "ok\n" });
    const fd = openSync(join(dir.path, "huge.log.txt"), "w");
    ftruncateSync(fd, 50 * 1024 * 1024);
    closeSync(fd);
    const before = process.memoryUsage().rss;
    const { files, skipped } = await readWorkspace([dir.path]);
    assert.deepEqual(files.map((f) => f.path), ["small.ts"]);
    assert.deepEqual(skipped, [{ path: "huge.log.txt", reason: "too-large", detail: `${50 * 1024 * 1024} bytes` }]);
    assert.ok(process.memoryUsage().rss - before < 20 * 1024 * 1024, "the big file was not loaded");
  } finally {
    dir.dispose();
  }
});

test("100,000 small files are all read, in order, with bounded concurrency", async () => {
  const dir = tempDir();
  try {
    for (let i = 0; i < 100_000; i++) {
      if (i % 1000 === 0) mkdirSync(join(dir.path, `d${String(i / 1000).padStart(3, "0")}`));
      writeFileSync(join(dir.path, `d${String(Math.floor(i / 1000)).padStart(3, "0")}`, `f${String(i % 1000).padStart(3, "0")}.ts`), `export const v${i} = ${i};\n`);
    }
    const { files, skipped } = await readWorkspace([dir.path]);
    assert.equal(files.length, 100_000);
    assert.deepEqual(skipped, []);
    assert.equal(files[0]!.path, "d000/f000.ts");
    assert.equal(files[99_999]!.path, "d099/f999.ts");
    assert.ok(files.every((f, i) => i === 0 || files[i - 1]!.path < f.path), "sorted");
    assert.equal(files[12_345]!.text, "export const v12345 = 12345;\n");
  } finally {
    dir.dispose();
  }
});

test("each workspace folder's legacy encoding reads its own files; the deepest folder holding a file decides, and a plan's re-read keeps it", async () => {
  const dir = tempDir();
  try {
    // "日本語" in Shift-JIS, and "źdźbło" in ISO-8859-2: neither is UTF-8, and each misreads in the other's encoding.
    const sjis = Buffer.concat([Buffer.from("// "), Buffer.from([0x93, 0xfa, 0x96, 0x7b, 0x8c, 0xea]), Buffer.from("\n")]);
    const latin2 = Buffer.concat([Buffer.from("// "), Buffer.from([0xbc, 0x64, 0xbc, 0x62, 0xb3, 0x6f]), Buffer.from("\n")]);
    const jp = join(dir.path, "jp");
    const pl = join(dir.path, "pl");
    mkdirSync(join(jp, "vendor"), { recursive: true });
    mkdirSync(pl, { recursive: true });
    writeFileSync(join(jp, "a.ts"), sjis);
    writeFileSync(join(jp, "vendor", "b.ts"), latin2);
    writeFileSync(join(pl, "c.ts"), latin2);
    const folderEncodings = [{ base: jp, encoding: "shift_jis" }, { base: join(jp, "vendor"), encoding: "iso-8859-2" }, { base: pl, encoding: "iso-8859-2" }];
    const { files } = await readWorkspace([jp, pl], { folderEncodings, encoding: "windows-1252" });
    const text = (path: string): [string, string | undefined] => { const f = files.find((x) => x.path === path)!; return [f.text, f.decoded?.encoding]; };
    assert.deepEqual(text("jp/a.ts"), ["// 日本語\n", "shift_jis"]);
    assert.deepEqual(text("jp/vendor/b.ts"), ["// źdźbło\n", "iso-8859-2"]);
    assert.deepEqual(text("pl/c.ts"), ["// źdźbło\n", "iso-8859-2"]);
    assert.equal(encodingFor({ folderEncodings, encoding: "windows-1252" }, join(dir.path, "elsewhere", "d.ts")), "windows-1252", "outside every folder: the one encoding");
    assert.equal(encodingFor({ folderEncodings }, join(dir.path, "jpx", "e.ts")), undefined, "a folder's name as a prefix of another's is not the folder");
    // A file changed between the plan and the run is read again in its folder's encoding.
    const options = { folderEncodings, encoding: "windows-1252", segmentTokens: 64, countTokens: (t: string) => Math.ceil(t.length / 4) };
    const plan = await planCodebase([jp, pl], options);
    writeFileSync(join(jp, "a.ts"), Buffer.concat([sjis, sjis]));
    assert.deepEqual(await plan.refresh(options), { changed: ["jp/a.ts"], removed: [] });
    assert.equal(plan.fileText("jp/a.ts"), "// 日本語\n// 日本語\n");
  } finally {
    dir.dispose();
  }
});
