// Model downloads, for real: node-llama-cpp's resolver against a local hub that serves a test
// GGUF under the catalog's real repository and file names, failing the ways servers and networks
// do. Each case ends in a model that loads or one line saying what to do, and never leaves a file
// that is not a whole model where the next run would pick it up.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from "node:fs";
import { createServer } from "node:net";
import { join, resolve } from "node:path";
import { localMachine, MODEL_LADDER, suggestModel } from "../../src/shared/modelCatalog";
import { DownloadError, modelEndpoint, resolveModel } from "../../src/engine/model/modelResolve";
import { tempDir, writeTree } from "../support/fixtures";
import { catalogFiles, startHfServer, type HfServer } from "../support/hfServer";
import { testModelPath } from "../support/models";

const SPEC = MODEL_LADDER[0]!.spec;
let body: Buffer;
let hub: HfServer;
const dirs: { path: string; dispose: () => void }[] = [];
const fresh = (): string => {
  const d = tempDir("ask-dl-");
  dirs.push(d);
  return d.path;
};
/** What a model folder holds, hidden files too: nothing but whole models may stay. */
const contents = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir) : []);

before(async () => {
  body = readFileSync(testModelPath("tiny"));
  hub = await startHfServer(catalogFiles(MODEL_LADDER.map((o) => o.spec), body));
});
after(async () => {
  await hub.close();
  for (const d of dirs) d.dispose();
});
const reset = (mode: HfServer["mode"], bytesPerSecond = 0): void => {
  hub.mode = mode;
  hub.bytesPerSecond = bytesPerSecond;
  hub.requests.length = 0;
};

test("the endpoint: the setting, then $MODEL_ENDPOINT, then $HF_ENDPOINT, then the hub", () => {
  const saved = { m: process.env.MODEL_ENDPOINT, h: process.env.HF_ENDPOINT };
  try {
    delete process.env.MODEL_ENDPOINT;
    delete process.env.HF_ENDPOINT;
    assert.equal(modelEndpoint(""), "https://huggingface.co/");
    process.env.HF_ENDPOINT = "https://hf-mirror.example";
    assert.equal(modelEndpoint(""), "https://hf-mirror.example/");
    process.env.MODEL_ENDPOINT = "http://models.local:8000/";
    assert.equal(modelEndpoint(""), "http://models.local:8000/");
    assert.equal(modelEndpoint("https://mirror.corp/hf"), "https://mirror.corp/hf/");
    assert.equal(modelEndpoint("not a url"), "http://models.local:8000/", "a setting that is not a URL is not used");
  } finally {
    for (const [k, v] of [["MODEL_ENDPOINT", saved.m], ["HF_ENDPOINT", saved.h]] as const) if (v === undefined) delete process.env[k]; else process.env[k] = v;
  }
});

test("a first download reports its progress and gives the served bytes; the next run reuses the file", async () => {
  reset("ok", 4 * 1024 * 1024);
  const dir = fresh();
  const seen: [number, number][] = [];
  const path = await resolveModel(SPEC, { directory: dir, endpoint: hub.url, onProgress: (d, t) => seen.push([d, t]) });
  assert.ok(readFileSync(path).equals(body), "the file is the served model, byte for byte");
  assert.ok(seen.length >= 2, `progress was reported ${seen.length} times`);
  assert.ok(seen.every(([, t]) => t === body.length), "every report knows the total");
  assert.equal(seen.at(-1)![0], body.length);
  for (let i = 1; i < seen.length; i++) assert.ok(seen[i]![0] >= seen[i - 1]![0], "progress never goes back");
  const gets = hub.requests.filter((r) => r.method === "GET").length;
  assert.equal(await resolveModel(SPEC, { directory: dir, endpoint: hub.url }), path);
  assert.equal(hub.requests.filter((r) => r.method === "GET").length, gets, "the second run downloads nothing");
});

test("a download cancelled halfway leaves nothing behind, and the next one gives the whole model", async () => {
  reset("ok", 256 * 1024);
  const dir = fresh();
  const controller = new AbortController();
  let cancelledAt = 0;
  await assert.rejects(resolveModel(SPEC, {
    directory: dir, endpoint: hub.url, signal: controller.signal,
    onProgress: (d) => {
      if (d > body.length / 4 && !cancelledAt) {
        cancelledAt = d;
        controller.abort(new Error("cancelled by the user"));
      }
    },
  }), /cancelled by the user/);
  assert.ok(cancelledAt > 0 && cancelledAt < body.length, `cancelled at ${cancelledAt} of ${body.length}`);
  await new Promise((r) => setTimeout(r, 300));
  assert.deepEqual(contents(dir).filter((f) => f.endsWith(".gguf")), [], "no model-named file after a cancel");
  reset("ok");
  const path = await resolveModel(SPEC, { directory: dir, endpoint: hub.url });
  assert.ok(readFileSync(path).equals(body));
});

test("a model the endpoint does not have: one line naming it and the endpoint", async () => {
  reset("missing");
  const dir = fresh();
  const err = await resolveModel(SPEC, { directory: dir, endpoint: hub.url }).catch((e: Error) => e);
  assert.ok(err instanceof DownloadError, String(err));
  assert.equal(err.message, `${hub.url} has no model ${SPEC}: check its name and quantization, and that the mirror carries it.`);
  assert.deepEqual(contents(dir), []);
});

for (const [mode, said] of [["html", /gave a web page, not a model/], ["short", /gave a model file that is cut short or damaged/]] as const) {
  test(`a server answering with ${mode === "html" ? "an HTML page" : "a file cut short"}: named, removed, and the next run downloads again`, async () => {
    reset(mode);
    const dir = fresh();
    const err = await resolveModel(SPEC, { directory: dir, endpoint: hub.url }).catch((e: Error) => e);
    assert.ok(err instanceof DownloadError, String(err));
    assert.match(err.message, said);
    assert.match(err.message, /it was removed\. Check the endpoint, or choose a GGUF file on disk\.$/);
    assert.deepEqual(contents(dir), [], "nothing the next run would take for the model");
    reset("ok");
    const path = await resolveModel(SPEC, { directory: dir, endpoint: hub.url });
    assert.ok(readFileSync(path).equals(body), "once the server is right, the real model comes");
  });
}

for (const mode of ["stall", "drop"] as const) {
  // The timeout turns a watchdog that never fires (ipull waits forever) into a failure, not a hang.
  test(`a server that ${mode === "stall" ? "stops sending" : "drops the connection halfway, every time"}: given up after the stall limit, with where it stopped`, { timeout: 60_000 }, async () => {
    reset(mode);
    const dir = fresh();
    const started = Date.now();
    const err = await resolveModel(SPEC, { directory: dir, endpoint: hub.url, stallMs: 1500 }).catch((e: Error) => e);
    const took = Date.now() - started;
    assert.ok(err instanceof DownloadError, String(err));
    assert.match(err.message, /stopped (at [\d.]+ (bytes|KiB|MiB) of 1\.3 MiB|before it began): nothing new for 2 s \(the server stalls, or the connection keeps dropping\)/);
    assert.ok(took < 30_000, `gave up after ${took} ms`);
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(contents(dir).filter((f) => f.endsWith(".gguf")), []);
  });
}

test("offline: one line naming the endpoint, the setting for a mirror and a local file", async () => {
  // A port that was free a moment ago: connections to it are refused.
  const port = await new Promise<number>((res) => {
    const s = createServer().listen(0, "127.0.0.1", () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => res(p));
    });
  });
  const endpoint = `http://127.0.0.1:${port}/`;
  const err = await resolveModel(SPEC, { directory: fresh(), endpoint }).catch((e: Error) => e);
  assert.ok(err instanceof DownloadError, String(err));
  assert.match(err.message, new RegExp(`^cannot reach ${endpoint.replace(/[.]/g, "\\.")} to download ${SPEC} \\(offline, or the hub is blocked here\\)\\. Set a mirror in askCodebase\\.modelEndpoint \\(--model-endpoint, or \\$HF_ENDPOINT\\), or choose a GGUF file on disk \\(--model FILE\\)\\.$`));
  assert.doesNotMatch(err.message, /\n/);
});

// The free space named is the tmpfs's (not 0, as a write failing with ENOSPC would say): refused before writing.
test("a full disk: refused with the sizes, and no partial model left", async (t) => {
  const mount = fresh();
  const m = spawnSync("mount", ["-t", "tmpfs", "-o", "size=512k", "tmpfs", mount], { encoding: "utf8" });
  if (m.status !== 0) return t.skip(`cannot mount a small tmpfs here (${(m.stderr || m.error?.message || "").trim()}): needs root`);
  try {
    reset("ok", 512 * 1024);
    const dir = join(mount, "models");
    mkdirSync(dir);
    const err = await resolveModel(SPEC, { directory: dir, endpoint: hub.url }).catch((e: Error) => e);
    assert.ok(err instanceof DownloadError, String(err));
    assert.match(err.message, new RegExp(`^no room for ${SPEC}: it needs 1\\.3 MiB and ${dir} has (9[89]|[1-9]\\d\\d) KiB free\\. Free some space, or choose a GGUF file on disk\\.$`));
    await new Promise((r) => setTimeout(r, 300));
    assert.deepEqual(contents(dir).filter((f) => f.endsWith(".gguf")), []);
  } finally {
    spawnSync("umount", ["-l", mount]);
  }
});

test("the CLI with no model: downloads the suggested one from $HF_ENDPOINT with progress, then answers", async () => {
  // Slow enough that the download outlasts the 2 s before a log's first progress line.
  reset("ok", 256 * 1024);
  const cacheHome = fresh();
  const project = fresh();
  writeTree(project, { "src/a.ts": "export const answer = 42; // the answer\n" });
  const suggested = suggestModel(localMachine()).option;
  const r = await new Promise<{ status: number | null; stdout: string; stderr: string }>((done) => {
    const child = spawn(process.execPath, [resolve("dist/cli.js"), "ask", project, "What is the answer?", "--threads", "1", "--margin-tokens", "4", "--answer-tokens", "4"], {
      env: { ...withoutModel(), XDG_CACHE_HOME: cacheHome, HF_ENDPOINT: hub.url, MODEL_ENDPOINT: "" },
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d) => (stdout += d));
    child.stderr.on("data", (d) => (stderr += d));
    child.on("close", (status) => done({ status, stdout, stderr }));
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stderr, new RegExp(`no model given: using ${suggested.label.replace(/[().]/g, "\\$&")}, suggested for this machine`), "the CLI says which model it chose and why");
  assert.match(r.stderr, /downloading the model: [\d.]+ \S+ of 1\.3 MiB/, "download progress on stderr");
  assert.match(r.stdout, /── answer/);
  const models = join(cacheHome, "ask-codebase", "models");
  const files = contents(models).filter((f) => f.endsWith(".gguf"));
  assert.equal(files.length, 1, `model folder: ${contents(models).join(", ")}`);
  assert.equal(statSync(join(models, files[0]!)).size, body.length);
  assert.ok(hub.requests.some((q) => q.path.endsWith(`/resolve/main/${catalogFiles([suggested.spec], body)[0]!.file}`)), "the suggested model's real file name was asked for");
});

/** The environment without a model named in it: the CLI then takes the suggested one. */
function withoutModel(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  delete env.ASK_CODEBASE_MODEL;
  return env;
}
