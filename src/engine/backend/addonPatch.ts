// One change to node-llama-cpp's addon source, made only while this project builds it from source
// (the CUDA offer, which is how every CUDA user of the extension gets CUDA: no VSIX carries the
// 540 MB CUDA prebuilt), and undone when the build ends.
//
// Why: node-llama-cpp 3.21.1's decode worker (llama/addon/AddonContext.cpp,
// AddonContextDecodeBatchWorker::Execute) calls llama_synchronize() after every llama_decode(), so
// the CPU prepares each next batch (its graph, and the attention mask that grows with the tokens
// already read) while the GPU waits. llama-bench queues batch after batch instead. On the H200
// (bench/gpu-sync-experiment.sh, bench/runs/h200-sync-experiment.txt) that one call costs a third
// of prefill: 38.8k tok/s with it, 58.6k without (llama-bench: 57.9k). Nothing reads a decode's
// results without llama.cpp synchronizing first: logits, embeddings, sampled tokens and the state
// calls all call synchronize() themselves (llama-context.cpp), and back-to-back decodes are what
// llama-bench does; every margin and answer of bench:warm is the same with and without it
// (bench/runs/h200-cuda-build-nosync.txt). The node-llama-cpp API cannot reach it: every decode
// goes through that worker.
// Where the line is not found as expected (another node-llama-cpp), the build is left as it is.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

export interface SourcePatch {
  /** What the change does, as the build's log and result say it. */
  name: string;
  /** Relative to node-llama-cpp's package folder. */
  file: string;
  /** The exact text replaced; it must occur once, inside `within`'s span. */
  find: string;
  /** Where `find` must be: from this text to the next class declaration. */
  within: string;
  /** Says what was removed and who removed it; also how an interrupted build's leftover is recognised. */
  replace: string;
}

export const DECODE_WITHOUT_SYNC: SourcePatch = {
  name: "decode without a synchronize after each batch",
  file: join("llama", "addon", "AddonContext.cpp"),
  find: "llama_synchronize(ctx->ctx);",
  within: "class AddonContextDecodeBatchWorker",
  replace: "/* ask-codebase: no synchronize after each decode in this build (see its addonPatch.ts); readers of the results synchronize */",
};

export interface PatchedSource {
  /** Names of the changes in place for the build. */
  applied: string[];
  /** Changes not made, each with why (the build goes on without them). */
  skipped: { name: string; why: string }[];
  /** Puts every changed file back as it was; safe to call twice. */
  restore(): void;
}

/** Where `find` occurs inside `within`'s class, or why it cannot be changed safely. */
function locate(text: string, p: SourcePatch): number | string {
  const start = text.indexOf(p.within);
  if (start < 0) return `${p.within} is not in ${p.file} (another node-llama-cpp version)`;
  const next = text.indexOf("\nclass ", start + p.within.length);
  const end = next < 0 ? text.length : next;
  const at = text.indexOf(p.find, start);
  if (at < 0 || at >= end) return `${p.find} is not in ${p.within} (another node-llama-cpp version)`;
  const again = text.indexOf(p.find, at + p.find.length);
  if (again >= 0 && again < end) return `${p.find} occurs more than once in ${p.within}`;
  return at;
}

/**
 * Makes each change in node-llama-cpp's source folder for the length of a build. A file already
 * changed (a build that was killed before it could undo it) counts as changed and is put back too.
 */
export function applySourcePatches(nlcDir: string, patches: SourcePatch[] = [DECODE_WITHOUT_SYNC]): PatchedSource {
  // Per file: the text as node-llama-cpp shipped it, and the text with the changes so far.
  const originals = new Map<string, string>();
  const changed = new Map<string, string>();
  const applied: string[] = [];
  const skipped: { name: string; why: string }[] = [];
  for (const p of patches) {
    const path = join(nlcDir, p.file);
    if (!existsSync(path)) {
      skipped.push({ name: p.name, why: `${p.file} is not in node-llama-cpp's package` });
      continue;
    }
    const text = changed.get(path) ?? readFileSync(path, "utf8");
    if (!originals.has(path)) originals.set(path, text);
    if (text.includes(p.replace)) {
      originals.set(path, originals.get(path)!.replace(p.replace, p.find));
      applied.push(p.name);
      continue;
    }
    const at = locate(text, p);
    if (typeof at === "string") {
      skipped.push({ name: p.name, why: at });
      continue;
    }
    changed.set(path, text.slice(0, at) + p.replace + text.slice(at + p.find.length));
    applied.push(p.name);
  }
  // A package folder that cannot be written fails here, as the build (which writes there too) would.
  for (const [path, text] of changed) writeFileSync(path, text);
  return {
    applied,
    skipped,
    restore() {
      for (const [path, text] of originals) if (readFileSync(path, "utf8") !== text) writeFileSync(path, text);
      originals.clear();
    },
  };
}
