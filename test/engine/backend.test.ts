// Choosing the backend: GPU builds are tried in throwaway processes, failures remembered.
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { BackendMemory, chooseBackend, probeBackend } from "../../src/engine/backend/backendChoice";
import type { GpuChoice } from "../../src/engine/llama/runtime";
import { tempDir } from "../support/fixtures";
import { testModelPath } from "../support/models";

const dir = tempDir();
after(() => dir.dispose());
const counted = (): { probes: GpuChoice[]; probe: typeof probeBackend } => {
  const probes: GpuChoice[] = [];
  return { probes, probe: (backend, model) => { probes.push(backend); return probeBackend(backend, model); } };
};

test("with no usable GPU, auto runs on the CPU without alarming anyone, and probes only once", async () => {
  const memory = new BackendMemory(join(dir.path, "auto.json"));
  const first = counted();
  const choice = await chooseBackend("auto", testModelPath("tiny"), memory, { probe: first.probe });
  assert.deepEqual(choice, { backend: "cpu" });
  assert.deepEqual(first.probes, process.platform === "darwin" ? ["metal"] : ["cuda", "vulkan"]);
  for (const b of first.probes) assert.equal(memory.get(b)?.ok, false);
  const second = counted();
  assert.deepEqual(await chooseBackend("auto", testModelPath("tiny"), memory, { probe: second.probe }), { backend: "cpu" });
  assert.deepEqual(second.probes, [], "verdicts are remembered");
});

test("a software Vulkan device (Mesa's lavapipe) is no GPU: the probe says so, auto runs on the CPU without a word, and vulkan asked for by name says why", async (t) => {
  // .ci/run installs lavapipe, so that this runs in CI; a machine with a Vulkan GPU sees that one instead.
  if (!existsSync("/usr/share/vulkan/icd.d/lvp_icd.x86_64.json") || existsSync("/dev/nvidia0") || existsSync("/dev/dri/renderD128")) {
    t.skip("needs Mesa's lavapipe as the only Vulkan device");
    return;
  }
  const verdict = await probeBackend("vulkan", testModelPath("tiny"));
  assert.equal(verdict.ok, false, "lavapipe was taken for a GPU");
  assert.equal(verdict.unavailable, true);
  assert.match(verdict.reason ?? "", /^(its build loads but sees no device|its only device, .*, is a software renderer)/);
  const memory = new BackendMemory(join(dir.path, "lavapipe.json"));
  memory.set("cuda", { ok: false, unavailable: true, reason: "no CUDA here", at: new Date().toISOString() });
  assert.deepEqual(await chooseBackend("auto", testModelPath("tiny"), memory), { backend: "cpu" });
  const asked = await chooseBackend("vulkan", testModelPath("tiny"), memory);
  assert.equal(asked.backend, "cpu");
  assert.match(asked.note ?? "", /^vulkan is not available on this machine: its (build loads but sees no device|only device).*; using the CPU$/);
});

test("a GPU build that aborts natively kills only its probe; the run falls back and says why", async () => {
  const memory = new BackendMemory(join(dir.path, "abort.json"));
  process.env.ASK_CODEBASE_PROBE_ABORT = "vulkan";
  try {
    const choice = await chooseBackend("vulkan", testModelPath("tiny"), memory);
    assert.equal(choice.backend, "cpu");
    assert.match(choice.note ?? "", /^vulkan failed on this machine: the vulkan build crashed \(SIGABRT\).*; using the CPU$/);
    assert.equal(memory.get("vulkan")?.ok, false);
    const stored = JSON.parse((await import("node:fs")).readFileSync(join(dir.path, "abort.json"), "utf8"));
    assert.match(Object.keys(stored)[0]!, /\|node-llama-cpp 3\.21\.1\|probe \d+$/, "verdicts are keyed by machine, library version and how the probe judges");
  } finally {
    delete process.env.ASK_CODEBASE_PROBE_ABORT;
  }
});

test("a remembered failure is not tried again, and the next backend is", async () => {
  const memory = new BackendMemory(join(dir.path, "remembered.json"));
  memory.set("cuda", { ok: false, reason: "CUDA error: the provided PTX was compiled with an unsupported toolchain", at: "2026-11-30T00:00:00Z" });
  const run = counted();
  const choice = await chooseBackend("cuda", testModelPath("tiny"), memory, { probe: run.probe });
  assert.deepEqual(run.probes, ["vulkan"]);
  assert.match(choice.note ?? "", /^cuda failed on this machine: CUDA error: the provided PTX/);
  assert.equal(new BackendMemory(join(dir.path, "remembered.json")).get("cuda")?.ok, false, "kept on disk");
});
