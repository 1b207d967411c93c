// The warm cache's bookkeeping on real files: longest-prefix lookup, least-recently-used eviction
// under a byte limit, half-written entries, clearing. The engine-level tests load real KV states.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { DiskStateCache, tokenChain } from "../../src/core/cache/stateCache";
import { tempDir } from "../support/fixtures";

const KEY = "model-a";
const saveBytes = (n: number) => async (file: string): Promise<void> => writeFileSync(file, Buffer.alloc(n, 7));

test("the token chain agrees exactly as far as the tokens do", () => {
  const a = tokenChain([1, 2], [[3, 4], [5], [6, 7]]);
  const b = tokenChain([1, 2], [[3, 4], [5], [6, 8]]);
  const c = tokenChain([1, 9], [[3, 4], [5], [6, 7]]);
  assert.equal(a.length, 4);
  assert.deepEqual(a.slice(0, 3), b.slice(0, 3));
  assert.notEqual(a[3], b[3]);
  assert.ok(a.every((h, i) => h !== c[i]), "a different opening changes every link");
  // Moving a token across a segment boundary changes the chain.
  assert.notEqual(tokenChain([1], [[2, 3], [4]])[1], tokenChain([1], [[2], [3, 4]])[1]);
});

test("find returns the entry sharing the longest prefix, for the same state key only", async () => {
  const dir = tempDir();
  try {
    const cache = new DiskStateCache(join(dir.path, "kv"), 1 << 20);
    assert.equal(await cache.find(KEY, tokenChain([1], [[2]])), undefined, "an empty cache");
    const full = tokenChain([1], [[2], [3], [4], [5]]);
    await cache.store(KEY, full, saveBytes(100));
    await cache.store(KEY, full.slice(0, 3), saveBytes(50));
    assert.deepEqual(await cache.find(KEY, full), { file: (await cache.find(KEY, full))!.file, segments: 4, entrySegments: 4 });
    const edited = tokenChain([1], [[2], [3], [9], [5]]);
    const hit = (await cache.find(KEY, edited))!;
    assert.equal(hit.segments, 2, "the first two segments are unchanged");
    assert.ok(existsSync(hit.file));
    assert.equal(await cache.find("model-b", full), undefined, "another model never matches");
    assert.equal(await cache.find(KEY, tokenChain([1], [[7]])), undefined, "no segment in common");
    assert.equal(await cache.find(KEY, tokenChain([2], [[2], [3]])), undefined, "another opening");
  } finally {
    dir.dispose();
  }
});

test("entries over the limit are evicted least recently used first; one too large is not kept", async () => {
  const dir = tempDir();
  try {
    const cache = new DiskStateCache(join(dir.path, "kv"), 250);
    const chains = [1, 2, 3].map((n) => tokenChain([n], [[n], [n + 10]]));
    await cache.store(KEY, chains[0]!, saveBytes(100));
    await cache.store(KEY, chains[1]!, saveBytes(100));
    // Entry 0 used more recently than entry 1.
    const old = new Date(Date.now() - 60_000);
    for (const f of readdirSync(join(dir.path, "kv")).filter((n) => n.endsWith(".json"))) utimesSync(join(dir.path, "kv", f), old, old);
    assert.ok(await cache.find(KEY, chains[0]!));
    const r = await cache.store(KEY, chains[2]!, saveBytes(100));
    assert.equal(r.stored, 100);
    assert.equal(r.entries, 2);
    assert.equal(r.bytes, 200);
    assert.ok(await cache.find(KEY, chains[0]!), "the recently used entry stays");
    assert.equal(await cache.find(KEY, chains[1]!), undefined, "the least recently used one went");
    const big = await cache.store(KEY, tokenChain([4], [[4]]), saveBytes(300));
    assert.equal(big.stored, 0, "larger than the whole limit");
    assert.ok(big.bytes <= 250);
  } finally {
    dir.dispose();
  }
});

test("an entry whose file changed size, or whose load killed its process, is dropped before anyone loads it", async () => {
  const dir = tempDir();
  try {
    const kv = join(dir.path, "kv");
    const cache = new DiskStateCache(kv, 1 << 20);
    const a = tokenChain([1], [[2]]);
    const b = tokenChain([3], [[4]]);
    await cache.store(KEY, a, saveBytes(100));
    await cache.store(KEY, b, saveBytes(100));
    writeFileSync((await cache.find(KEY, a))!.file, Buffer.alloc(60));
    assert.equal(await cache.find(KEY, a), undefined, "truncated: llama.cpp would abort reading it");
    const hit = (await cache.find(KEY, b))!;
    // A load that is under way in this process keeps its entry...
    await cache.guardLoad(hit.file, async () => assert.ok(await cache.find(KEY, b)));
    // ...one that a dead process left behind does not.
    const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" }).stdout;
    writeFileSync(`${hit.file}.loading`, dead);
    assert.equal(await cache.find(KEY, b), undefined);
    assert.deepEqual(readdirSync(kv), []);
  } finally {
    dir.dispose();
  }
});

test("a failed save leaves no entry and no partial file; stray and half-written files are ignored; clear empties it", async () => {
  const dir = tempDir();
  try {
    const kv = join(dir.path, "kv");
    const cache = new DiskStateCache(kv, 1 << 20);
    const chain = tokenChain([1], [[2]]);
    await assert.rejects(cache.store(KEY, chain, async (file) => { writeFileSync(file, "partial"); throw new Error("disk full"); }), /disk full/);
    assert.deepEqual(readdirSync(kv), []);
    writeFileSync(join(kv, "junk.json"), "{not json");
    writeFileSync(join(kv, "orphan.state"), "x");
    assert.equal(await cache.find(KEY, chain), undefined);
    await cache.store(KEY, chain, saveBytes(10));
    assert.deepEqual((await cache.stats()).entries, 1);
    await cache.clear();
    assert.equal(existsSync(kv), false);
    assert.deepEqual(await cache.stats(), { entries: 0, bytes: 0, limitBytes: 1 << 20, directory: kv });
  } finally {
    dir.dispose();
  }
});
