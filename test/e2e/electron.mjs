// npm run test:electron: the in-host suite in a desktop VS Code that @vscode/test-electron
// downloads. It needs a machine that reaches update.code.visualstudio.com; the machines this
// project is built on do not, so CI runs the same suite in code-server (test/e2e/run.mjs).
import { execFileSync } from "node:child_process";
import { mkdirSync, mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { runTests } from "@vscode/test-electron";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const work = mkdtempSync(join(tmpdir(), "ask-electron-"));
const workspace = join(work, "workspace");
mkdirSync(join(workspace, "src"), { recursive: true });
for (let f = 0; f < 8; f++) {
  let text = "";
  for (let i = 1; i <= 24; i++) text += `export function part${f}_${i}(value: number): number {\n  return value * ${i} + ${f};\n}\n`;
  writeFileSync(join(workspace, "src", `module${f}.ts`), text);
}
const model = join(work, "tiny.gguf");
execFileSync(process.execPath, ["--import", "tsx", "scripts/write-test-model.ts", "--out", model, "--shape", "tiny"], { cwd: root, stdio: "inherit" });
// User settings: the model (like the server) is a machine setting, which a workspace cannot set.
const userData = join(work, "user-data");
mkdirSync(join(userData, "User"), { recursive: true });
writeFileSync(join(userData, "User", "settings.json"), JSON.stringify({
  "askCodebase.model": model, "askCodebase.gpu": "cpu", "askCodebase.threads": 1,
  "askCodebase.segmentTokens": 256, "askCodebase.marginTokens": 48, "askCodebase.answerTokens": 32,
}));
await runTests({
  extensionDevelopmentPath: root,
  extensionTestsPath: join(root, "test/e2e/suite/index.js"),
  launchArgs: [workspace, "--disable-workspace-trust", "--user-data-dir", userData],
});
