// npm run bench:listing -- DIR [--runs N]
// Lists DIR's files both ways in one process, N times each, alternating: through git (`git
// ls-files`, the default) and with the built-in reader (git hidden from the PATH). Prints the
// median time of each, their ratio, and whether they agree; then the whole read (listing, sorting
// out, reading) both ways, and through git with VS Code's default files.exclude and search.exclude
// applied (what the extension reads). A disagreement makes the exit status 1.
import { parseArgs } from "node:util";
import { join, resolve } from "node:path";
import { listFolder } from "../src/core/workspace/listing";
import { readWorkspace } from "../src/core/workspace/reader";

const { values, positionals } = parseArgs({ allowPositionals: true, options: { runs: { type: "string", default: "5" } } });
const dir = positionals[0] && resolve(positionals[0]);
if (!dir) throw new Error("usage: npm run bench:listing -- DIR [--runs N]");
const runs = Number(values.runs);
const path = process.env.PATH;
const withGit = async <T>(hidden: boolean, work: () => Promise<T>): Promise<T> => {
  process.env.PATH = hidden ? join(dir, "no-git-here") : path;
  try {
    return await work();
  } finally {
    process.env.PATH = path;
  }
};
// VS Code 1.100's defaults: what every workspace opened in it hides unless its settings say otherwise.
const VSCODE_DEFAULT_EXCLUDES = [
  { setting: "files.exclude", patterns: { "**/.git": true, "**/.svn": true, "**/.hg": true, "**/.DS_Store": true, "**/Thumbs.db": true, "**/CVS": true } },
  { setting: "search.exclude", patterns: { "**/node_modules": true, "**/bower_components": true, "**/*.code-search": true } },
];
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const options = { respectGitignore: true, submodules: true };
  const times = { git: [] as number[], builtin: [] as number[], readGit: [] as number[], readBuiltin: [] as number[], readExcludes: [] as number[] };
  const excludes = VSCODE_DEFAULT_EXCLUDES.map((e) => ({ ...e, base: dir }));
  let lists: Record<"git" | "builtin", string[]> = { git: [], builtin: [] };
  for (let i = 0; i < runs; i++) {
    for (const way of ["git", "builtin"] as const) {
      const started = performance.now();
      const listed = await withGit(way === "builtin", () => listFolder(dir, options));
      times[way].push(performance.now() - started);
      lists[way] = [...listed.paths].sort();
    }
  }
  for (let i = 0; i < Math.min(3, runs); i++) {
    for (const way of ["git", "builtin"] as const) {
      const started = performance.now();
      await withGit(way === "builtin", () => readWorkspace([dir]));
      times[way === "git" ? "readGit" : "readBuiltin"].push(performance.now() - started);
    }
    const started = performance.now();
    await readWorkspace([dir], { excludes });
    times.readExcludes.push(performance.now() - started);
  }
  const same = lists.git.length === lists.builtin.length && lists.git.every((p, i) => p === lists.builtin[i]);
  const ms = (x: number): string => `${x.toFixed(1)} ms`;
  console.log(`${dir}: ${lists.git.length} paths listed by git, ${lists.builtin.length} by the built-in reader: ${same ? "the same" : "THEY DIFFER"}`);
  console.log(`listing, median of ${runs}: git ${ms(median(times.git))}, built-in ${ms(median(times.builtin))} (built-in / git ${(median(times.builtin) / median(times.git)).toFixed(2)}x)`);
  console.log(`whole read, median of ${times.readGit.length}: git ${ms(median(times.readGit))}, built-in ${ms(median(times.readBuiltin))} (${(median(times.readBuiltin) / median(times.readGit)).toFixed(2)}x)`);
  console.log(`whole read through git with VS Code's default excludes: ${ms(median(times.readExcludes))} (${(median(times.readExcludes) / median(times.readGit)).toFixed(2)}x without)`);
  if (!same) {
    const onlyGit = lists.git.filter((p) => !lists.builtin.includes(p)).slice(0, 5);
    const onlyBuiltin = lists.builtin.filter((p) => !lists.git.includes(p)).slice(0, 5);
    console.log(`  only git: ${onlyGit.join(", ")}\n  only built-in: ${onlyBuiltin.join(", ")}`);
    process.exitCode = 1;
  }
  console.log(JSON.stringify({ bench: "listing", dir, paths: lists.git.length, same, gitMs: median(times.git), builtinMs: median(times.builtin), readGitMs: median(times.readGit), readBuiltinMs: median(times.readBuiltin), readExcludesMs: median(times.readExcludes) }));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
