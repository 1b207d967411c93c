// The one change this project makes to node-llama-cpp's addon source while it builds it, tried on
// a copy of the pinned package's real AddonContext.cpp.
import { test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { applySourcePatches, DECODE_WITHOUT_SYNC } from "../../src/engine/backend/addonPatch";
import { tempDir } from "../support/fixtures";

const shipped = resolve("node_modules/node-llama-cpp", DECODE_WITHOUT_SYNC.file);

function packageCopy(edit?: (text: string) => string): { dir: string; file: string; dispose(): void } {
  const tmp = tempDir();
  const file = join(tmp.path, DECODE_WITHOUT_SYNC.file);
  mkdirSync(join(file, ".."), { recursive: true });
  copyFileSync(shipped, file);
  if (edit) writeFileSync(file, edit(readFileSync(file, "utf8")));
  return { dir: tmp.path, file, dispose: () => tmp.dispose() };
}

/** The body of the decode worker's Execute(), where llama_decode is called. */
function decodeWorker(text: string): string {
  const start = text.indexOf("class AddonContextDecodeBatchWorker");
  return text.slice(start, text.indexOf("\nclass ", start + 1));
}

test("the build's copy of the decode worker calls llama_decode without a synchronize after it, and nothing else changes", () => {
  const pkg = packageCopy();
  try {
    const before = readFileSync(pkg.file, "utf8");
    assert.match(decodeWorker(before), /llama_decode\(ctx->ctx, ctx->batch\)[\s\S]*llama_synchronize\(ctx->ctx\);/, "the pinned 3.21.1 source has the call");
    const patched = applySourcePatches(pkg.dir);
    assert.deepEqual(patched.applied, [DECODE_WITHOUT_SYNC.name]);
    assert.deepEqual(patched.skipped, []);
    const during = readFileSync(pkg.file, "utf8");
    assert.doesNotMatch(decodeWorker(during), /llama_synchronize\(/);
    assert.match(decodeWorker(during), /llama_decode\(ctx->ctx, ctx->batch\)/);
    // Exactly one line differs, and only by the call.
    const a = before.split("\n");
    const b = during.split("\n");
    assert.equal(b.length, a.length);
    const differ = a.map((line, i) => [line, b[i]!] as const).filter(([x, y]) => x !== y);
    assert.equal(differ.length, 1);
    assert.equal(differ[0]![0].trim(), "llama_synchronize(ctx->ctx);");
    assert.match(differ[0]![1], /^\s*\/\*.*\*\/$/, "a comment in its place, so the code around it is unchanged");
    patched.restore();
    assert.equal(readFileSync(pkg.file, "utf8"), before, "put back byte for byte");
    patched.restore();
    assert.equal(readFileSync(pkg.file, "utf8"), before);
  } finally {
    pkg.dispose();
  }
});

test("a build killed before it undid the change leaves a file the next build recognises and puts back", () => {
  const pkg = packageCopy();
  try {
    const before = readFileSync(pkg.file, "utf8");
    applySourcePatches(pkg.dir); // never restored: the process died
    const next = applySourcePatches(pkg.dir);
    assert.deepEqual(next.applied, [DECODE_WITHOUT_SYNC.name]);
    assert.doesNotMatch(decodeWorker(readFileSync(pkg.file, "utf8")), /llama_synchronize\(/);
    next.restore();
    assert.equal(readFileSync(pkg.file, "utf8"), before);
  } finally {
    pkg.dispose();
  }
});

test("another node-llama-cpp, where the call is not where it was or not alone, is built as it is, with why", () => {
  const cases: [string, (t: string) => string, RegExp][] = [
    ["the call gone", (t) => t.replace("llama_synchronize(ctx->ctx);", ""), /is not in class AddonContextDecodeBatchWorker/],
    ["the worker renamed", (t) => t.replaceAll("AddonContextDecodeBatchWorker", "DecodeWorker"), /AddonContextDecodeBatchWorker is not in/],
    ["called twice", (t) => t.replace("llama_synchronize(ctx->ctx);", "llama_synchronize(ctx->ctx);\nllama_synchronize(ctx->ctx);"), /more than once/],
    // The same call elsewhere in the file is not the decode worker's, and is left alone.
    ["only in another class", (t) => t.replace("llama_synchronize(ctx->ctx);", "").replace("class AddonContextLoadContextWorker : public Napi::AsyncWorker {", "class AddonContextLoadContextWorker : public Napi::AsyncWorker {\n    void f() { llama_synchronize(ctx->ctx); }"), /is not in class AddonContextDecodeBatchWorker/],
  ];
  for (const [what, edit, why] of cases) {
    const pkg = packageCopy(edit);
    try {
      const before = readFileSync(pkg.file, "utf8");
      const patched = applySourcePatches(pkg.dir);
      assert.deepEqual(patched.applied, [], what);
      assert.equal(patched.skipped.length, 1, what);
      assert.match(patched.skipped[0]!.why, why, what);
      assert.equal(readFileSync(pkg.file, "utf8"), before, `${what}: untouched`);
      patched.restore();
      assert.equal(readFileSync(pkg.file, "utf8"), before, what);
    } finally {
      pkg.dispose();
    }
  }
  const none = tempDir();
  try {
    assert.match(applySourcePatches(none.path).skipped[0]!.why, /is not in node-llama-cpp's package/);
  } finally {
    none.dispose();
  }
});
