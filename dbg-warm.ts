import { mkdirSync, writeFileSync, utimesSync } from "node:fs";
import { join } from "node:path";
import { DiskStateCache } from "./src/core/cache/stateCache";
import { planCodebase } from "./src/core/plan";
import { WimSession } from "./src/core/wim/session";
import { openLlamaEngine } from "./src/engine/llama/llamaEngine";
import { runWithAddonShim } from "./bench/addonShim";
runWithAddonShim();
async function main() {
  const engine = await openLlamaEngine({ modelPath: "/tmp/x/tiny.gguf", gpu: "cpu" });
  const repo = "/tmp/dbg/repo"; mkdirSync(join(repo, "src"), { recursive: true });
  const old = new Date(Date.now() - 2 * 86400_000);
  for (let f = 0; f < 16; f++) { let t = ""; for (let i = 0; i < 8; i++) t += `export function handler${f}_${i}(value: number): number {\n  return value * ${(f * 60 + i) % 9973} + ${i};\n}\n`; const rel = join(repo, `src/module${f}.ts`); writeFileSync(rel, t); utimesSync(rel, old, old); }
  const p = await planCodebase([repo], { segmentTokens: 256, countTokens: (t) => engine.tokenizeText(t).length, order: "recent-last" });
  const cache = new DiskStateCache("/tmp/dbg/cache-" + Date.now(), 1 << 30);
  for (const q of ["first question about value?", "second question about handler?"]) {
    const s = new WimSession(engine, { segments: p.segments, files: p.files.length }, q, { marginTokens: 8, answerTokens: 8, cache, contextTokens: 1024, judge: (k) => k % 8 === 0 });
    for await (const e of s.run()) if (["run-started", "cache-saved", "window-started", "error"].includes(e.type)) console.log(JSON.stringify(e).slice(0, 300));
  }
  await engine.dispose();
}
main();
