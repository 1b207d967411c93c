// npm run bench:windows -- DIR --model FILE [--before OLD_CLI] [--question Q]
// How many windows a codebase takes, as the engine lays it out: the CLI is run on DIR and stopped
// at its run-started event, which says the windows and the codebase tokens each holds. With
// --before, the same for another build's CLI (e.g. a checkout of an earlier commit, built), so
// that a change to the layout is measured on the same repository, model and settings.
import { spawn } from "node:child_process";
import { resolve } from "node:path";
import { parseArgs } from "node:util";
import { createInterface } from "node:readline";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { model: { type: "string" }, before: { type: "string" }, question: { type: "string", default: "Where is the retry delay computed?" } },
});
const dir = positionals[0] && resolve(positionals[0]);
if (!dir || !values.model) throw new Error("usage: npm run bench:windows -- DIR --model FILE [--before OLD_CLI]");

interface Started { files: number; tokens: number; segments: number; windows: number; contextSize: number; windowTokens?: number }

/** Runs a CLI until its run-started event, then stops it (and its engine). */
function windowsOf(cli: string): Promise<Started> {
  return new Promise((done, fail) => {
    const child = spawn(process.execPath, [cli, "ask", dir!, values.question!, "--model", resolve(values.model!), "--json", "--cache-mib", "0", "--gpu", "cpu"], { detached: true, stdio: ["ignore", "pipe", "pipe"] });
    let err = "";
    child.stderr.on("data", (d) => { err = (err + d).slice(-2000); });
    createInterface({ input: child.stdout }).on("line", (line) => {
      const e = JSON.parse(line);
      if (e.type === "run-started") {
        try { process.kill(-child.pid!, "SIGKILL"); } catch { /* gone */ }
        done(e);
      } else if (e.type === "error") fail(new Error(e.message));
    });
    child.on("exit", (code) => fail(new Error(`${cli} exited (${code}) before reading: ${err}`)));
  });
}

async function main(): Promise<void> {
  const rows: [string, Started][] = [];
  if (values.before) {
    // An earlier build may refuse what this one reads: that is its figure.
    const before = await windowsOf(resolve(values.before)).catch((err: Error) => err);
    if (before instanceof Error) console.log(`before: refused: ${before.message}`);
    else rows.push(["before", before]);
  }
  rows.push(["now", await windowsOf(resolve("dist/cli.js"))]);
  const now = rows.at(-1)![1];
  // Now reads in windows of the model's whole context: its contextSize is the model's.
  console.log(`${dir}: ${now.files.toLocaleString("en-US")} files, ${now.tokens.toLocaleString("en-US")} tokens in ${now.segments} segments; context ${now.contextSize.toLocaleString("en-US")} tokens`);
  for (const [label, s] of rows) {
    const perWindow = s.windowTokens ?? Math.max(...[s.tokens / s.windows]);
    console.log(`${label.padEnd(7)} ${String(s.windows).padStart(5)} windows, ${Math.round(perWindow).toLocaleString("en-US").padStart(7)} codebase tokens a window (${((100 * perWindow) / s.contextSize).toFixed(0)}% of the context)${s.windowTokens ? "" : " (average)"}`);
  }
  if (rows.length === 2) console.log(`ratio now / before: ${(rows[1]![1].windows / rows[0]![1].windows).toFixed(3)} of the windows`);
}

void main().catch((err) => { console.error(err.message); process.exit(1); });
