// The benchmarks' reference: llama.cpp's llama-bench compiled from node-llama-cpp's llama.cpp
// commit and linked against node-llama-cpp's own prebuilt CPU libraries (bench/build-llama-bench.sh),
// run on the tiny test model. Every speed ratio in the README is divided by what this binary prints,
// so it must run the very libraries the project loads, and still run when carried to another
// machine whose node_modules lie elsewhere (its links are remade on each call).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readlinkSync, realpathSync, rmSync } from "node:fs";
import { dirname, join } from "node:path";
import { llamaBench } from "../../bench/llamaBench";
import { tempDir } from "../support/fixtures";
import { testModelPath } from "../support/models";

const linuxX64 = process.platform === "linux" && process.arch === "x64";
const prebuilt = realpathSync(join("node_modules", "@node-llama-cpp", "linux-x64", "bins", "linux-x64"));

test("llama-bench runs on node-llama-cpp's prebuilt CPU libraries and measures prefill and decode at a depth", { skip: !linuxX64 && "the prebuilt libraries it links are linux-x64's here" }, () => {
  const cache = tempDir();
  const env = { ...process.env, ASK_CODEBASE_SERVER_CACHE: cache.path };
  const build = (): { bin: string; log: string } => {
    const r = spawnSync("bash", ["bench/build-llama-bench.sh", "cpu"], { env, encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    return { bin: r.stdout.trim(), log: r.stderr };
  };
  try {
    const first = build();
    assert.match(first.log, /compiling llama-bench/);
    const bin = first.bin;
    const folder = dirname(bin);
    assert.equal(dirname(readlinkSync(join(folder, "libggml-base.so"))), prebuilt, "linked to node-llama-cpp's own CPU libraries");

    const model = testModelPath("tiny");
    const loaded = spawnSync(bin, ["-m", model, "-p", "16", "-n", "0", "-r", "1", "-t", "1", "-o", "json"], { encoding: "utf8" });
    assert.equal(loaded.status, 0, loaded.stderr);
    // ggml picks its CPU backend from the executable's folder: one of the prebuilt variants, through the link.
    const backend = /loaded CPU backend from (\S+)/.exec(loaded.stderr)?.[1];
    assert.ok(backend?.startsWith(folder), `CPU backend loaded from ${backend}`);
    assert.equal(dirname(realpathSync(backend!)), prebuilt);

    const prefill = llamaBench(bin, model, { prompt: 64, batch: 64, ubatch: 64, gpu: false, threads: 1 });
    assert.equal(prefill.prompt, 64);
    assert.equal(prefill.generated, 0);
    assert.ok(prefill.tokensPerSecond > 0 && Number.isFinite(prefill.tokensPerSecond));
    const decode = llamaBench(bin, model, { generated: 8, depth: 32, gpu: false, threads: 1 });
    assert.deepEqual([decode.generated, decode.depth, decode.prompt], [8, 32, 0]);
    assert.ok(Math.abs(decode.msPerToken * decode.tokensPerSecond - 1000) < 1e-6);

    // Carried elsewhere, the links are remade and nothing is compiled again.
    rmSync(join(folder, "libggml-base.so"));
    const again = build();
    assert.equal(again.bin, bin);
    assert.doesNotMatch(again.log, /compiling/, "the second call reuses the compiled binary");
    assert.equal(dirname(readlinkSync(join(folder, "libggml-base.so"))), prebuilt);
  } finally {
    cache.dispose();
  }
});
