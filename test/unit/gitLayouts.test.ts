// What is read equals `git ls-files -co --exclude-standard` run in the folder, less the skips the
// README gives reasons for, in every layout a user opens: a repository's root, a folder deep inside
// one, a linked worktree, a submodule checkout, index v4, split and sparse indexes, SHA-256,
// core.excludesFile, submodules and repositories inside, several roots (overlapping too), and a
// folder in no repository. Each layout is made with real git commands; each is read with git on
// the PATH, and again with git hidden (the built-in reader), which must agree or say what it missed.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { readWorkspace, type WorkspaceRead } from "../../src/core/workspace/reader";
import { tempDir, writeTree } from "../support/fixtures";

const dir = tempDir("ask-layouts-");
after(() => dir.dispose());
const home = join(dir.path, "home");
mkdirSync(home, { recursive: true });
// The reader's git and the test's git read the same (empty, or the test's own) user config.
const gitEnv = (): NodeJS.ProcessEnv => ({ ...process.env, GIT_CONFIG_GLOBAL: process.env.GIT_CONFIG_GLOBAL ?? join(home, "gitconfig"), GIT_CONFIG_NOSYSTEM: "1", HOME: home, XDG_CONFIG_HOME: join(home, ".config") });
writeFileSync(join(home, "gitconfig"), "");

function git(cwd: string, ...args: string[]): string {
  return execFileSync("git", ["-c", "user.email=t@example.com", "-c", "user.name=t", "-c", "init.defaultBranch=main", "-c", "protocol.file.allow=always", ...args], { cwd, encoding: "utf8", env: gitEnv() });
}

/** What git lists in `folder`, submodules and repositories inside expanded (as the reader reads them). */
function listedByGit(folder: string, prefix = ""): string[] {
  const out: string[] = [];
  const staged = git(folder, "ls-files", "-z", "--cached", "--stage").split("\0").filter(Boolean);
  const seen = new Set<string>();
  for (const line of staged) {
    const path = line.slice(line.indexOf("\t") + 1);
    if (seen.has(path)) continue;
    seen.add(path);
    if (line.startsWith("160000 ")) out.push(...listedByGit(join(folder, path), `${prefix}${path}/`));
    else out.push(prefix + path);
  }
  for (const path of git(folder, "ls-files", "-z", "--others", "--exclude-standard").split("\0").filter(Boolean)) {
    if (path.endsWith("/")) out.push(...listedByGit(join(folder, path), `${prefix}${path}`));
    else out.push(prefix + path);
  }
  return out;
}

/** Reads with the test's git config, and git on the PATH or not. */
async function read(roots: string[], options: { hideGit?: boolean; submodules?: boolean } = {}): Promise<WorkspaceRead> {
  const saved = { PATH: process.env.PATH, GIT_CONFIG_GLOBAL: process.env.GIT_CONFIG_GLOBAL, HOME: process.env.HOME, XDG_CONFIG_HOME: process.env.XDG_CONFIG_HOME, GIT_CONFIG_NOSYSTEM: process.env.GIT_CONFIG_NOSYSTEM };
  Object.assign(process.env, gitEnv());
  if (options.hideGit) process.env.PATH = join(dir.path, "no-git-here");
  try {
    return await readWorkspace(roots, { ...(options.submodules !== undefined ? { submodules: options.submodules } : {}) });
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

/** Read and skipped together are exactly what git lists, and nothing is both. */
function assertLikeGit(got: WorkspaceRead, listed: string[], what: string): void {
  const read = got.files.map((f) => f.path);
  const skipped = got.skipped.filter((s) => s.reason !== "nested-repository").map((s) => s.path);
  for (const p of read) assert.ok(!skipped.includes(p), `${what}: ${p} both read and skipped`);
  assert.deepEqual([...read, ...skipped].sort(), [...new Set(listed)].sort(), `${what}: read + skipped = git ls-files`);
}

let n = 0;
const fresh = (): string => {
  const path = join(dir.path, `layout-${++n}`);
  mkdirSync(path, { recursive: true });
  return path;
};

/** A repository with ignore rules at the top, in info/exclude and on the way down, and a tracked file they match. */
function monorepo(): string {
  const repo = fresh();
  git(repo, "init", "-q");
  writeTree(repo, {
    ".gitignore": "build/\n*.log\n/packages/api/only-here.txt\n",
    "packages/api/src/index.ts": "export const api = 1;\n",
    "packages/api/src/util.ts": "export const util = 2;\n",
    "packages/api/build/out.js": "ignored by the top .gitignore\n",
    "packages/api/debug.log": "ignored by *.log above\n",
    "packages/api/only-here.txt": "ignored by an anchored rule above\n",
    "packages/api/secret.txt": "ignored by info/exclude\n",
    "packages/api/.gitignore": "tmp/\n",
    "packages/api/tmp/t.ts": "ignored by its own .gitignore\n",
    "packages/api/tracked.log": "tracked, though *.log ignores it\n",
    "packages/web/index.ts": "outside the folder\n",
  });
  writeFileSync(join(repo, ".git/info/exclude"), "secret.txt\n");
  git(repo, "add", "-A");
  git(repo, "add", "-f", "packages/api/tracked.log");
  git(repo, "commit", "-qm", "init");
  writeTree(repo, { "packages/api/src/new.ts": "untracked, not ignored\n" });
  return repo;
}

test("a folder several levels inside a repository: the rules above it, info/exclude and the index apply; paths stay relative to it", async () => {
  const repo = monorepo();
  const folder = join(repo, "packages/api");
  for (const hideGit of [false, true]) {
    const got = await read([folder], { hideGit });
    const what = hideGit ? "built-in reader" : "git";
    assertLikeGit(got, listedByGit(folder), what);
    const paths = got.files.map((f) => f.path);
    assert.ok(paths.includes("tracked.log") && paths.includes("src/new.ts"), `${what}: ${paths}`);
    for (const p of ["build/out.js", "debug.log", "only-here.txt", "secret.txt", "tmp/t.ts"]) assert.ok(!paths.includes(p), `${what}: ${p} is ignored`);
    assert.equal(got.listings[0]!.source, hideGit ? "builtin" : "git");
    if (hideGit) assert.match(got.listings[0]!.note ?? "", /git was not found on the PATH: the built-in reader is used/);
  }
  // A folder that a rule above ignores lists only what git tracks in it.
  writeTree(repo, { "packages/api/build/more.ts": "x\n" });
  git(repo, "add", "-f", "packages/api/build/more.ts");
  for (const hideGit of [false, true]) assertLikeGit(await read([join(repo, "packages/api/build")], { hideGit }), listedByGit(join(repo, "packages/api/build")), `ignored folder, ${hideGit}`);
});

test("a linked worktree and a submodule checkout, where .git is a file pointing elsewhere", async () => {
  const repo = monorepo();
  const worktree = join(fresh(), "wt");
  git(repo, "worktree", "add", "-q", worktree, "-b", "side");
  writeTree(worktree, { "packages/api/local.log": "ignored in the worktree too\n", "notes.md": "untracked in the worktree\n" });
  const sub = fresh();
  git(sub, "init", "-q");
  writeTree(sub, { ".gitignore": "*.tmp\n", "lib.ts": "export const lib = 1;\n", "x.tmp": "ignored\n" });
  git(sub, "add", "-A");
  git(sub, "commit", "-qm", "sub");
  git(repo, "submodule", "add", "-q", sub, "vendor/sub");
  const checkout = join(repo, "vendor/sub");
  writeTree(checkout, { "scratch.tmp": "ignored by the submodule's rule\n", "added.ts": "untracked in the submodule\n" });
  for (const folder of [worktree, join(worktree, "packages/api"), checkout]) {
    for (const hideGit of [false, true]) assertLikeGit(await read([folder], { hideGit }), listedByGit(folder), `${folder}, ${hideGit ? "built-in" : "git"}`);
  }
});

test("index v4, a split index, a sparse checkout with a sparse index, and a SHA-256 repository read as git lists them", async () => {
  const v4 = monorepo();
  git(v4, "update-index", "--index-version", "4");
  const split = monorepo();
  git(split, "update-index", "--split-index");
  writeTree(split, { "packages/api/late.log": "tracked after the split\n" });
  git(split, "add", "-f", "packages/api/late.log");
  const sparse = monorepo();
  git(sparse, "sparse-checkout", "init", "--cone", "--sparse-index");
  git(sparse, "sparse-checkout", "set", "packages/api");
  const sha = fresh();
  git(sha, "init", "-q", "--object-format=sha256");
  writeTree(sha, { ".gitignore": "out/\n", "a.ts": "a\n", "out/b.js": "ignored\n", "out/kept.js": "tracked\n" });
  git(sha, "add", "-A");
  git(sha, "add", "-f", "out/kept.js");
  for (const repo of [v4, split, sparse, sha]) assertLikeGit(await read([repo]), listedByGit(repo), `${repo} with git`);
  // Outside the sparse cone: listed by git, not on disk, skipped with that reason.
  const sparseRead = await read([sparse]);
  assert.ok(sparseRead.skipped.some((s) => s.path === "packages/web/index.ts" && s.reason === "not-in-worktree"));
  // The built-in reader follows v4 and SHA-256 exactly; a split or sparse index it names as what it cannot see.
  for (const repo of [v4, sha]) assertLikeGit(await read([repo], { hideGit: true }), listedByGit(repo), `${repo} built-in`);
  assert.match((await read([split], { hideGit: true })).listings[0]!.note ?? "", /a split index: the files in its shared part are not seen/);
  assert.match((await read([sparse], { hideGit: true })).listings[0]!.note ?? "", /a sparse index/);
});

test("core.excludesFile set in the user's git config applies, with git and without", async () => {
  const repo = fresh();
  git(repo, "init", "-q");
  writeTree(repo, { "a.ts": "a\n", "b.secret": "excluded by the user's excludes file\n", "c/d.secret": "too\n" });
  const excludes = join(home, "my-excludes");
  writeFileSync(excludes, "*.secret\n");
  const config = join(home, "config-with-excludes");
  writeFileSync(config, `[core]\n\texcludesFile = ${excludes}\n`);
  process.env.GIT_CONFIG_GLOBAL = config;
  try {
    for (const hideGit of [false, true]) {
      const got = await read([repo], { hideGit });
      assertLikeGit(got, listedByGit(repo), `excludesFile, ${hideGit}`);
      assert.deepEqual(got.files.map((f) => f.path), ["a.ts"]);
    }
  } finally {
    delete process.env.GIT_CONFIG_GLOBAL;
  }
});

test("submodules and repositories inside are read under their own rules; askCodebase.submodules off leaves them out", async () => {
  const inner = fresh();
  git(inner, "init", "-q");
  writeTree(inner, { ".gitignore": "dist/\n", "mod.ts": "export const mod = 1;\n", "dist/x.js": "ignored by the submodule's rule\n" });
  git(inner, "add", "-A");
  git(inner, "commit", "-qm", "inner");
  const repo = fresh();
  git(repo, "init", "-q");
  writeTree(repo, { ".gitignore": "*.gen.ts\n", "app.ts": "export const app = 1;\n" });
  git(repo, "add", "-A");
  git(repo, "submodule", "add", "-q", inner, "libs/inner");
  git(repo, "commit", "-qm", "with a submodule");
  // A repository inside that git does not track (a clone dropped into the tree).
  const nested = join(repo, "tools/nested");
  mkdirSync(nested, { recursive: true });
  git(nested, "init", "-q");
  writeTree(nested, { "tool.ts": "export const tool = 1;\n", "out.gen.ts": "the parent's rule does not reach in\n" });
  for (const hideGit of [false, true]) {
    const got = await read([repo], { hideGit });
    assertLikeGit(got, listedByGit(repo), `submodules, ${hideGit}`);
    const paths = got.files.map((f) => f.path);
    for (const p of ["libs/inner/mod.ts", "tools/nested/tool.ts", "tools/nested/out.gen.ts"]) assert.ok(paths.includes(p), `${hideGit}: ${p} in ${paths}`);
    assert.ok(!paths.includes("libs/inner/dist/x.js"));
  }
  const without = await read([repo], { submodules: false });
  assert.deepEqual(without.files.map((f) => f.path), [".gitignore", ".gitmodules", "app.ts"]);
  assert.deepEqual(without.skipped.filter((s) => s.reason === "nested-repository").map((s) => s.path).sort(), ["libs/inner", "tools/nested"]);
});

test("several roots: each repository under its own rules; a root inside another is not read twice", async () => {
  const a = monorepo();
  const b = fresh();
  git(b, "init", "-q");
  writeTree(b, { ".gitignore": "*.tmp\n", "b.ts": "b\n", "x.tmp": "ignored\n" });
  const plain = fresh();
  writeTree(plain, { "p.ts": "p\n" });
  const got = await read([join(a, "packages/api"), b, plain]);
  const prefixed = (name: string, listed: string[]): string[] => listed.map((p) => `${name}/${p}`);
  assertLikeGit(got, [...prefixed("api", listedByGit(join(a, "packages/api"))), ...prefixed("layout-" + b.split("layout-")[1], listedByGit(b)), `${plain.split("/").pop()}/p.ts`], "three roots");
  assert.deepEqual(got.listings.map((l) => l.source), ["git", "git", "walk"]);
  // Overlapping: the repository and a folder inside it; every file once.
  const overlap = await read([a, join(a, "packages/api")]);
  const byFile = new Map<string, number>();
  for (const f of overlap.files) byFile.set(f.absPath, (byFile.get(f.absPath) ?? 0) + 1);
  assert.ok([...byFile.values()].every((count) => count === 1), "no file is read twice");
  assert.equal(byFile.size, new Set(listedByGit(a).filter((p) => !p.endsWith(".log") || p.endsWith("tracked.log"))).size);
});

test("a folder in no repository is walked: .gitignore, .askcodebaseignore and globs still apply; git being absent changes nothing", async () => {
  const folder = fresh();
  writeTree(folder, { ".gitignore": "node_modules/\n", ".askcodebaseignore": "fixtures/\n", "a.ts": "a\n", "fixtures/f.json": "{}\n", "node_modules/m/index.js": "m\n", "src/b.ts": "b\n" });
  for (const hideGit of [false, true]) {
    const got = await read([folder], { hideGit });
    assert.deepEqual(got.files.map((f) => f.path), [".askcodebaseignore", ".gitignore", "a.ts", "src/b.ts"]);
    assert.deepEqual(got.listings, [{ folder, source: "walk" }], "nothing to say: there is no repository to miss");
  }
  rmSync(join(folder, "src"), { recursive: true });
});

test("a folder in no repository leaves out what tools made; another version control's metadata is never read", async () => {
  const folder = fresh();
  const tag = "Signature: 8a477f597d28d172789f06886806bc55\n# a cache\n";
  writeTree(folder, {
    "src/a.ts": "a\n",
    // Made by tools: by name, or by a file inside that says so.
    "node_modules/m/index.js": "m\n", "web/bower_components/b/b.js": "b\n", "pkg/__pycache__/a.cpython-311.pyc": "c\n",
    ".venv/pyvenv.cfg": "home = /usr/bin\n", ".venv/lib/site.py": "s\n", "env/conda-meta/history": "h\n",
    "target/CACHEDIR.TAG": tag, "target/debug/app.d": "d\n", ".pytest_cache/CACHEDIR.TAG": tag, ".pytest_cache/v/x": "x\n",
    "cmake-build/CMakeCache.txt": "CMAKE_BUILD_TYPE:STRING=Debug\n", "cmake-build/gen/config.h": "#define X 1\n", ".gradle/8.5/checksums/c.lock": "l\n",
    "web/.next/server/page.js": "p\n",
    // Look-alikes that are source: a tag without the signature, folders with the names of build outputs, a name on Object's prototype.
    "notes/CACHEDIR.TAG": "not a signature\n", "build/make.ts": "b\n", "target-ui/t.ts": "t\n", "constructor/k.ts": "k\n",
    // An SVN working copy keeps a copy of every file; Mercurial its history.
    ".svn/pristine/ab/abc.svn-base": "a\n", "sub/.hg/store/data/x.i": "x\n", "CVS/Entries": "e\n",
  });
  for (const hideGit of [false, true]) {
    const got = await read([folder], { hideGit });
    assert.deepEqual(got.files.map((f) => f.path).sort(), ["build/make.ts", "constructor/k.ts", "notes/CACHEDIR.TAG", "src/a.ts", "target-ui/t.ts"]);
    assert.deepEqual(Object.fromEntries(got.skipped.map((s) => [s.path, `${s.reason}: ${s.detail}`])), {
      ".pytest_cache": "tool-folder: a cache (CACHEDIR.TAG)", ".venv": "tool-folder: a Python virtual environment (pyvenv.cfg)",
      "env": "tool-folder: a conda environment (conda-meta)", "node_modules": "tool-folder: npm packages",
      ".svn": "tool-folder: Subversion's metadata", "CVS": "tool-folder: CVS's metadata", "sub/.hg": "tool-folder: Mercurial's metadata",
      "pkg/__pycache__": "tool-folder: Python bytecode", "target": "tool-folder: a cache (CACHEDIR.TAG)", "web/bower_components": "tool-folder: Bower packages",
      "cmake-build": "tool-folder: a CMake build tree (CMakeCache.txt)", ".gradle": "tool-folder: Gradle's caches", "web/.next": "tool-folder: a Next.js build",
    });
  }
  // Opened itself, a tool's folder is read: the user chose it.
  assert.deepEqual((await read([join(folder, ".venv")])).files.map((f) => f.path).sort(), ["lib/site.py", "pyvenv.cfg"]);
  // With ignore rules off every file is read, but still no other version control's metadata.
  const all = await readWorkspace([folder], { respectGitignore: false });
  assert.ok(all.files.some((f) => f.path === "node_modules/m/index.js"));
  assert.ok(!all.files.some((f) => /(^|\/)(\.svn|\.hg|CVS)\//.test(f.path)));
  // A repository made inside an SVN working copy, with no .gitignore yet: git lists everything as
  // untracked, and what tools made is left out all the same (with the fix), as is the metadata.
  git(folder, "init", "-q");
  for (const hideGit of [false, true]) {
    const inRepo = await read([folder], { hideGit });
    assert.deepEqual(inRepo.files.map((f) => f.path).sort(), ["build/make.ts", "constructor/k.ts", "notes/CACHEDIR.TAG", "src/a.ts", "target-ui/t.ts"], `hideGit ${hideGit}`);
    const fix = ", neither tracked nor ignored (add it to .gitignore)";
    assert.deepEqual(inRepo.skipped.filter((s) => s.reason === "tool-folder").map((s) => `${s.path}: ${s.detail}`).sort(), [
      `.gradle: Gradle's caches${fix}`, `.pytest_cache: a cache (CACHEDIR.TAG)${fix}`, ".svn: Subversion's metadata", `.venv: a Python virtual environment (pyvenv.cfg)${fix}`, "CVS: CVS's metadata",
      `cmake-build: a CMake build tree (CMakeCache.txt)${fix}`, `env: a conda environment (conda-meta)${fix}`, `node_modules: npm packages${fix}`, `pkg/__pycache__: Python bytecode${fix}`, "sub/.hg: Mercurial's metadata",
      `target: a cache (CACHEDIR.TAG)${fix}`, `web/.next: a Next.js build${fix}`, `web/bower_components: Bower packages${fix}`,
    ], `hideGit ${hideGit}`);
  }
});

test("what .gitattributes say applies: generated, vendored and -diff files are left out; working-tree-encoding decodes", async () => {
  const folder = fresh();
  git(folder, "init", "-q");
  writeTree(folder, {
    ".gitattributes": "gen/** linguist-generated\nthird_party/** linguist-vendored\n*.dat -diff\nmarked.js linguist-generated=false\nlegacy.txt working-tree-encoding=SHIFT-JIS\n",
    "sub/.gitattributes": "*.dat diff\n",
    "src/a.ts": "a\n", "gen/api.ts": "g\n", "third_party/lib/l.c": "l\n", "fixtures/big.dat": "d\n", "sub/ok.dat": "ok\n", "marked.js": "m\n",
    // "日本語" in Shift-JIS: without the attribute it would read as Windows-1252 letters.
    "legacy.txt": Buffer.concat([Buffer.from("// "), Buffer.from([0x93, 0xfa, 0x96, 0x7b, 0x8c, 0xea]), Buffer.from("\n")]),
  });
  git(folder, "add", "-A");
  // A repository inside, under its own attributes.
  const inner = join(folder, "inner");
  mkdirSync(inner);
  git(inner, "init", "-q");
  writeTree(inner, { ".gitattributes": "*.gen.ts linguist-generated\n", "x.gen.ts": "x\n", "y.ts": "y\n" });
  const got = await read([folder]);
  assert.deepEqual(got.files.map((f) => f.path).sort(), [".gitattributes", "inner/.gitattributes", "inner/y.ts", "legacy.txt", "marked.js", "src/a.ts", "sub/.gitattributes", "sub/ok.dat"]);
  const legacy = got.files.find((f) => f.path === "legacy.txt")!;
  assert.deepEqual([legacy.text, legacy.decoded], ["// 日本語\n", { encoding: "shift_jis", replaced: 0 }]);
  assert.deepEqual(Object.fromEntries(got.skipped.map((s) => [s.path, `${s.reason}: ${s.detail}`])), {
    "gen/api.ts": "generated: linguist-generated in .gitattributes", "third_party/lib/l.c": "vendored: linguist-vendored in .gitattributes",
    "fixtures/big.dat": "binary: -diff in .gitattributes", "inner/x.gen.ts": "generated: linguist-generated in .gitattributes",
  });
  // A folder inside: the repository's .gitattributes above it still apply.
  assert.deepEqual((await read([join(folder, "fixtures")])).skipped.map((s) => `${s.path}: ${s.reason}`), ["big.dat: binary"]);
  // Without git they are not known, and the plan says so.
  const builtin = await read([folder], { hideGit: true });
  assert.ok(builtin.files.some((f) => f.path === "gen/api.ts"));
  assert.match(builtin.listings[0]!.note ?? "", /\.gitattributes are not applied/);

  // With no .gitattributes at all: the repository's info/attributes and the user's attributes file count too.
  const bare = fresh();
  git(bare, "init", "-q");
  writeTree(bare, { "a.ts": "a\n", "x.pb.ts": "p\n", "y.snap": "s\n" });
  writeFileSync(join(bare, ".git", "info", "attributes"), "*.pb.ts linguist-generated\n");
  const userFile = join(home, ".config", "git", "attributes");
  mkdirSync(join(home, ".config", "git"), { recursive: true });
  writeFileSync(userFile, "*.snap binary\n");
  try {
    assert.deepEqual((await read([bare])).skipped.map((s) => `${s.path}: ${s.reason}`), ["x.pb.ts: generated", "y.snap: binary"]);
  } finally {
    rmSync(userFile);
  }
});

test("a repository whose .gitignore forgot what tools made: untracked dependencies, environments and caches are left out with the fix; what the project tracks is read", async () => {
  const repo = fresh();
  git(repo, "init", "-q");
  writeTree(repo, {
    ".gitignore": "*.log\n", "src/a.ts": "export const a = 1;\n", "vendor/node_modules/keep/index.js": "module.exports = 'vendored, tracked';\n",
    "build/out.txt": "a folder without a mark is read\n",
  });
  git(repo, "add", "-A");
  git(repo, "commit", "-qm", "tracked");
  writeTree(repo, {
    "node_modules/pkg/index.js": "module.exports = 1;\n", "node_modules/pkg/package.json": "{}\n", "node_modules/dep/index.js": "module.exports = 2;\n",
    "vendor/node_modules/extra/index.js": "module.exports = 'beside tracked files: the project's';\n",
    ".venv/pyvenv.cfg": "home = /usr/bin\n", ".venv/lib/site.py": "x = 1\n",
    "src/__pycache__/a.cpython-311.pyc": "bytecode\n", "src/new.ts": "export const untrackedSource = 1;\n",
    "target/CACHEDIR.TAG": "Signature: 8a477f597d28d172789f06886806bc55\n", "target/debug/out.d": "deps\n",
    "notcache/CACHEDIR.TAG": "no signature\n", "notcache/x.txt": "read\n",
  });
  // A dependency installed from git: a repository inside the forgotten folder.
  git(join(repo, "node_modules", "dep"), "init", "-q");
  const fix = ", neither tracked nor ignored (add it to .gitignore)";
  for (const hideGit of [false, true]) {
    const what = hideGit ? "built-in reader" : "git";
    const got = await read([repo], { hideGit });
    assert.deepEqual(got.files.map((f) => f.path), [
      ".gitignore", "build/out.txt", "notcache/CACHEDIR.TAG", "notcache/x.txt", "src/a.ts", "src/new.ts", "vendor/node_modules/extra/index.js", "vendor/node_modules/keep/index.js",
    ], what);
    assert.deepEqual(got.skipped.map((s) => [s.path, s.reason, s.detail]), [
      [".venv", "tool-folder", `a Python virtual environment (pyvenv.cfg)${fix}`],
      ["node_modules", "tool-folder", `npm packages${fix}`],
      ["src/__pycache__", "tool-folder", `Python bytecode${fix}`],
      ["target", "tool-folder", `a cache (CACHEDIR.TAG)${fix}`],
    ], what);
  }
});

test("a repository git refuses (another user owns it) is read by the built-in reader, whose note gives git's reason and fix", async (t) => {
  if (process.getuid?.() !== 0) { t.skip("giving a folder to another user needs root"); return; }
  const repo = monorepo();
  const listed = listedByGit(repo);
  execFileSync("chown", ["-R", "65534:65534", repo]);
  try {
    const got = await read([repo]);
    assertLikeGit(got, listed, "dubious ownership");
    assert.equal(got.listings[0]!.source, "builtin");
    const note = got.listings[0]!.note ?? "";
    assert.match(note, /^git ls-files failed: detected dubious ownership in repository at '.+' \(git reads it after `git config --global --add safe\.directory .+`\): the built-in reader is used$/, note);
  } finally {
    execFileSync("chown", ["-R", `${process.getuid!()}:${process.getgid!()}`, repo]);
  }
});

test("a repository's fsmonitor hook is never run by reading it", async () => {
  const repo = fresh();
  git(repo, "init", "-q");
  writeTree(repo, { "a.ts": "export const a = 1;\n" });
  const marker = join(repo, "..", `fsmonitor-ran-${n}`);
  const hook = join(repo, "..", `fsmonitor-${n}.sh`);
  writeFileSync(hook, `#!/bin/sh\ntouch '${marker}'\n`, { mode: 0o755 });
  git(repo, "add", "-A");
  git(repo, "commit", "-qm", "init");
  git(repo, "config", "core.fsmonitor", hook);
  // The hook is live: git itself runs it for status.
  git(repo, "status", "--porcelain");
  assert.ok(existsSync(marker), "the fixture's hook runs under plain git");
  rmSync(marker);
  const got = await read([repo]);
  assert.deepEqual(got.files.map((f) => f.path), ["a.ts"]);
  assert.ok(!existsSync(marker), "reading the workspace ran the repository's fsmonitor hook");
});
