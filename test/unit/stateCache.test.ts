// The warm cache's bookkeeping on real files: longest-prefix lookup, least-recently-used eviction
// under a byte limit, half-written entries, clearing. The engine-level tests load real KV states.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync, rmSync, statSync, utimesSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { spawnSync } from "node:child_process";
import { FOLDER_MARKER, NotACacheError } from "../../src/core/cache/cacheFolder";
import { CacheEntryDamaged, checksumStats, DiskStateCache, NoRoomForState, tokenChain } from "../../src/core/cache/stateCache";
import { freeBytes } from "../../src/core/freeSpace";
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

test("a save that would leave the disk nearly full takes room from older entries, or is refused before it writes", async () => {
  const dir = tempDir();
  try {
    const folder = join(dir.path, "kv");
    const MiB = 1 << 20;
    const chains = [1, 2, 3, 4].map((n) => tokenChain([n], [[n]]));
    // Two old entries of 32 MiB each; the second was used last.
    const roomy = new DiskStateCache(folder, 1 << 30, 0);
    await roomy.store(KEY, chains[0]!, saveBytes(32 * MiB));
    await roomy.store(KEY, chains[1]!, saveBytes(32 * MiB));
    const old = new Date(Date.now() - 60_000);
    for (const f of readdirSync(folder).filter((n) => n.endsWith(".json"))) utimesSync(join(folder, f), old, old);
    assert.ok(await roomy.find(KEY, chains[1]!));

    // The disk's real free space, and a floor that leaves a 48 MiB state 16 MiB short of it: one
    // older entry's 32 MiB make the room (16 MiB either way, for what else writes to this disk).
    const expectedBytes = 48 * MiB;
    const free = (await freeBytes(folder))!;
    const tight = new DiskStateCache(folder, 1 << 30, free - expectedBytes + 16 * MiB);
    const r = await tight.store(KEY, chains[2]!, saveBytes(MiB), { expectedBytes });
    assert.equal(r.stored, MiB);
    assert.equal(await tight.find(KEY, chains[0]!), undefined, "the least recently used entry made the room");
    assert.ok(await tight.find(KEY, chains[1]!), "one was enough: the other stays");

    // Short by more than every entry holds: refused, and nothing is written or removed.
    const before = readdirSync(folder).sort();
    const free2 = (await freeBytes(folder))!;
    const full = new DiskStateCache(folder, 1 << 30, free2 - expectedBytes + 128 * MiB);
    let saved = false;
    await assert.rejects(full.store(KEY, chains[3]!, async (file) => { saved = true; await saveBytes(MiB)(file); }, { expectedBytes }),
      (e: Error) => e instanceof NoRoomForState && /has [\d.]+ [MG]iB free and the state takes about 48 MiB; the cache leaves [\d.]+ [MG]iB free for other programs/.test(e.message));
    assert.equal(saved, false, "never started writing");
    assert.deepEqual(readdirSync(folder).sort(), before);

    // A save that fails anyway (a disk filled meanwhile) says how full the disk is, and leaves no partial file.
    await assert.rejects(roomy.store(KEY, chains[3]!, async (file) => { writeFileSync(file, "cut"); throw new Error("Failed to save state to file"); }),
      /^Error: Failed to save state to file \(the disk holding .* has [\d.]+ [MG]iB free\)$/);
    assert.deepEqual(readdirSync(folder).sort(), before);
  } finally {
    dir.dispose();
  }
});

const deadPid = (): string => spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], { encoding: "utf8" }).stdout;
const aged = (file: string): void => { const t = new Date(Date.now() - 120_000); utimesSync(file, t, t); };

test("an entry whose file changed size, or whose bytes changed at the same size, is dropped before anyone loads it", async () => {
  const dir = tempDir();
  try {
    const kv = join(dir.path, "kv");
    const cache = new DiskStateCache(kv, 1 << 20);
    const a = tokenChain([1], [[2]]);
    const b = tokenChain([3], [[4]]);
    await cache.store(KEY, a, saveBytes(100));
    await cache.store(KEY, b, saveBytes(100));
    writeFileSync((await cache.find(KEY, a))!.file, Buffer.alloc(60));
    // Truncated: llama.cpp would abort reading it. Told once, as the reason this question starts cold.
    await assert.rejects(cache.find(KEY, a), (e: Error) => e instanceof CacheEntryDamaged && /saved state file changed size \(60 bytes, saved as 100\): it was dropped, and the codebase is read again/.test(e.message));
    assert.equal(await cache.find(KEY, a), undefined, "dropped: the next question is not told again");
    // The same size, one byte different: only the checksum can tell.
    // This process saved it (and remembers its hash): with its times put back, only the ctime differs.
    const hit = (await cache.find(KEY, b))!;
    const bytes = readFileSync(hit.file);
    const { atime, mtime } = statSync(hit.file);
    bytes[50] ^= 0xff;
    writeFileSync(hit.file, bytes);
    utimesSync(hit.file, atime, mtime);
    let loaded = false;
    await assert.rejects(cache.guardLoad(hit.file, async () => { loaded = true; }), (e: Error) => e instanceof CacheEntryDamaged && /checksum/.test(e.message));
    assert.equal(loaded, false, "never handed to llama.cpp");
    assert.equal(await cache.find(KEY, b), undefined, "and dropped");
    assert.deepEqual(readdirSync(kv), [FOLDER_MARKER]);
  } finally {
    dir.dispose();
  }
});

test("a damaged entry is told only to the codebase it matched best; a shorter intact one is still used", async () => {
  const dir = tempDir();
  try {
    const cache = new DiskStateCache(join(dir.path, "kv"), 1 << 20);
    const short = tokenChain([1], [[2]]);
    const long = tokenChain([1], [[2], [3]]);
    const other = tokenChain([5], [[6]]);
    await cache.store(KEY, short, saveBytes(100));
    await cache.store(KEY, long, saveBytes(100));
    await cache.store(KEY, other, saveBytes(100));
    // A file removed by hand: its record is dropped with it.
    rmSync((await cache.find(KEY, long))!.file);
    const hit = (await cache.find(KEY, long))!;
    assert.equal(hit.segments, 1, "the one-segment entry");
    assert.match(hit.dropped ?? "", /saved state of 2 segments file is missing: it was dropped, and an older one of 1 is used/);
    assert.equal((await cache.find(KEY, long))!.dropped, undefined, "said once");
    // Another codebase's damaged entry is not this one's news (the scan drops it all the same), but its own next question's.
    writeFileSync((await cache.find(KEY, other))!.file, Buffer.alloc(10));
    assert.equal((await cache.find(KEY, long))!.dropped, undefined);
    assert.equal(await cache.find("model-b", other), undefined, "nor another model's");
    await assert.rejects(cache.find(KEY, other), /file changed size \(10 bytes, saved as 100\)/);
    assert.equal(await cache.find(KEY, other), undefined);
  } finally {
    dir.dispose();
  }
});

test("a load marker a dead process left: the entry stays if its file is intact, goes if not", async () => {
  const dir = tempDir();
  try {
    const cache = new DiskStateCache(join(dir.path, "kv"), 1 << 20);
    const a = tokenChain([1], [[2]]);
    const b = tokenChain([3], [[4]]);
    await cache.store(KEY, a, saveBytes(100));
    await cache.store(KEY, b, saveBytes(100));
    const hitA = (await cache.find(KEY, a))!;
    const hitB = (await cache.find(KEY, b))!;
    // A load under way in this process keeps its entry.
    await cache.guardLoad(hitA.file, async () => assert.ok(await cache.find(KEY, a)));
    // Killed while loading (the user stopped it): the file is as saved, the entry is used again.
    writeFileSync(`${hitA.file}.loading`, deadPid());
    assert.ok(await cache.find(KEY, a));
    assert.equal(existsSync(`${hitA.file}.loading`), false, "the marker is cleaned up");
    // Killed while loading a file that changed: llama.cpp may have aborted on it.
    writeFileSync(`${hitB.file}.loading`, deadPid());
    const bytes = readFileSync(hitB.file);
    bytes[3] ^= 1;
    writeFileSync(hitB.file, bytes);
    await assert.rejects(cache.find(KEY, b), (e: Error) => e instanceof CacheEntryDamaged && /changed while a load of it was cut short/.test(e.message));
    assert.equal(await cache.find(KEY, b), undefined);
  } finally {
    dir.dispose();
  }
});

test("every byte in the folder is accounted for: what dead processes left is removed, what others wrote is left alone", async () => {
  const dir = tempDir();
  try {
    const kv = join(dir.path, "kv");
    const cache = new DiskStateCache(kv, 1 << 20);
    const chain = tokenChain([1], [[2]]);
    await assert.rejects(cache.store(KEY, chain, async (file) => { writeFileSync(file, "partial"); throw new Error("disk full"); }), /disk full/);
    assert.deepEqual(readdirSync(kv), [FOLDER_MARKER], "a failed save leaves nothing but the mark that the folder is a cache");
    await cache.store(KEY, chain, saveBytes(10));
    const id = readdirSync(kv).find((n) => n.endsWith(".json") && n !== FOLDER_MARKER)!.slice(0, -5);
    const other = "0123456789abcdef0123456789abcdef";
    // A save killed mid-write, a state whose record never came, a record cut short, and a save
    // under way in a live process (this one); and two files the cache never writes.
    writeFileSync(join(kv, `${other}.state.${deadPid()}.partial`), Buffer.alloc(30));
    writeFileSync(join(kv, `${other}.state`), Buffer.alloc(40));
    writeFileSync(join(kv, `${"f".repeat(32)}.json`), "{\"format\": 2, \"stat");
    writeFileSync(join(kv, `${"f".repeat(32)}.state`), Buffer.alloc(20));
    writeFileSync(join(kv, `${id}.state.${process.pid}.partial`), Buffer.alloc(5));
    writeFileSync(join(kv, "notes.txt"), "mine\n");
    for (const n of [`${other}.state`, `${"f".repeat(32)}.json`, `${"f".repeat(32)}.state`]) aged(join(kv, n));
    const stats = await cache.stats();
    assert.deepEqual({ entries: stats.entries, bytes: stats.bytes, pending: stats.pendingFiles, foreign: stats.foreignFiles }, { entries: 1, bytes: 10, pending: 1, foreign: 1 });
    assert.deepEqual(readdirSync(kv).sort(), [`${id}.json`, `${id}.state`, `${id}.state.${process.pid}.partial`, FOLDER_MARKER, "notes.txt"].sort());
    // Clearing removes the cache's files and says so; the user's file stays, and so does the folder.
    const cleared = await cache.clear();
    assert.deepEqual({ entries: cleared.entries, left: cleared.left }, { entries: 1, left: 1 });
    assert.deepEqual(readdirSync(kv), ["notes.txt"]);
  } finally {
    dir.dispose();
  }
});

test("clearing a folder that is not a cache is refused and removes nothing", async () => {
  const dir = tempDir();
  try {
    writeFileSync(join(dir.path, "package.json"), "{}\n");
    writeFileSync(join(dir.path, "0123.state"), "not ours: no 32-hex id\n");
    const cache = new DiskStateCache(dir.path, 1 << 20);
    await assert.rejects(cache.clear(), (e: Error) => e instanceof NotACacheError && /is not an ask-codebase cache.*Nothing was removed/.test(e.message));
    assert.deepEqual(readdirSync(dir.path).sort(), ["0123.state", "package.json"]);
    // An empty or missing folder is nothing to refuse.
    assert.deepEqual(await new DiskStateCache(join(dir.path, "missing"), 1).clear(), { files: 0, bytes: 0, entries: 0, left: 0 });
  } finally {
    dir.dispose();
  }
});

test("a state this process saved or checked is not hashed again while it is unchanged", async () => {
  const dir = tempDir();
  try {
    const cache = new DiskStateCache(join(dir.path, "kv"), 1 << 20);
    const chain = tokenChain([1], [[2]]);
    const before = checksumStats.bytes;
    await cache.store(KEY, chain, saveBytes(1000));
    assert.equal(checksumStats.bytes - before, 1000, "hashed once on saving");
    const { file } = (await cache.find(KEY, chain))!;
    await cache.verify(file);
    await cache.guardLoad(file, async () => undefined);
    assert.equal(checksumStats.bytes - before, 1000, "not again while unchanged");
    // A fresh cache object (a later question) in the same process trusts the same memory.
    await new DiskStateCache(join(dir.path, "kv"), 1 << 20).verify(file);
    assert.equal(checksumStats.bytes - before, 1000);
    const { atime, mtime } = statSync(file);
    utimesSync(file, atime, mtime);
    await cache.verify(file);
    assert.equal(checksumStats.bytes - before, 2000, "touched: hashed again, and still valid");
  } finally {
    dir.dispose();
  }
});

test("a store says when its state is written, before its checksum; two stores of one entry in this process take turns", async () => {
  const dir = tempDir();
  try {
    const cache = new DiskStateCache(join(dir.path, "kv"), 1 << 30);
    const chain = tokenChain([1], [[2], [3]]);
    const steps: string[] = [];
    const hashedBefore = checksumStats.bytes;
    const first = cache.store(KEY, chain, async (f) => writeFileSync(f, Buffer.alloc(1 << 20, 3)), {
      onWritten: () => steps.push(`written, ${checksumStats.bytes - hashedBefore} bytes hashed`),
    });
    void first.then(() => steps.push("first stored"));
    // The next question's store of the same entry, while the first one's checksum runs.
    const second = cache.store(KEY, chain, async (f) => { steps.push("second writes"); writeFileSync(f, Buffer.alloc(1 << 20, 4)); }, { onWritten: () => steps.push("second written") });
    const [a, b] = await Promise.all([first, second]);
    assert.deepEqual(steps, ["written, 0 bytes hashed", "first stored", "second writes", "second written"]);
    assert.equal(a.stored, 1 << 20);
    assert.equal(b.stored, 1 << 20);
    const hit = (await cache.find(KEY, chain))!;
    await cache.verify(hit.file);
    assert.equal(readFileSync(hit.file)[0], 4, "the later store's state, whole and matching its checksum");
    assert.equal((await cache.stats()).entries, 1);
  } finally {
    dir.dispose();
  }
});
