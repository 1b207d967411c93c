// How the engine's process is given the addon shim: preloaded ahead of a user's own preloads, once,
// only where the build left it, and never with a path ld.so would split.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { addonShimMode, addonShimName, settleAddonShim, withAddonShim, withoutAddonShim } from "../../src/shared/addonShim";
import { tempDir } from "../support/fixtures";

const linux = { skip: process.platform !== "linux" && "LD_PRELOAD is Linux's" };

function withShim(sub = "dist"): { dir: string; shim: string; dispose: () => void } {
  const t = tempDir();
  const dir = join(t.path, sub);
  mkdirSync(dir, { recursive: true });
  const shim = join(dir, addonShimName());
  writeFileSync(shim, "");
  return { dir, shim, dispose: t.dispose };
}

test("the shim is preloaded ahead of the user's own preloads, and only once", linux, () => {
  const { dir, shim, dispose } = withShim();
  try {
    assert.equal(withAddonShim({}, dir).LD_PRELOAD, shim);
    const env = withAddonShim({ LD_PRELOAD: "/opt/mine/libtrace.so", HOME: "/h" }, dir);
    assert.equal(env.LD_PRELOAD, `${shim} /opt/mine/libtrace.so`);
    assert.equal(env.HOME, "/h");
    assert.equal(withAddonShim(env, dir).LD_PRELOAD, env.LD_PRELOAD);
  } finally {
    dispose();
  }
});

test("without a built shim, with ASK_CODEBASE_ADDON_SHIM=off, or at a path ld.so would split, the environment is left as it is", linux, () => {
  const { dir, dispose } = withShim();
  const spaced = withShim("my dist");
  const empty = tempDir();
  try {
    const user = { LD_PRELOAD: "/opt/mine/libtrace.so" };
    assert.deepEqual(withAddonShim(user, empty.path), user);
    assert.deepEqual(withAddonShim({ ...user, ASK_CODEBASE_ADDON_SHIM: "off" }, dir), { ...user, ASK_CODEBASE_ADDON_SHIM: "off" });
    assert.deepEqual(withAddonShim(user, spaced.dir), user);
  } finally {
    dispose();
    spaced.dispose();
    empty.dispose();
  }
});

test("the shim's file is named for its platform and architecture, as the packager keeps it per target", () => {
  assert.equal(addonShimName("linux", "x64"), "addon-shim-linux-x64.so");
  assert.equal(addonShimName("linux", "arm64"), "addon-shim-linux-arm64.so");
});

test("what the engine's process starts is not given the shim: only its entry leaves LD_PRELOAD", () => {
  assert.equal(withoutAddonShim("/x/dist/addon-shim-linux-x64.so"), undefined);
  assert.equal(withoutAddonShim("/x/dist/addon-shim-linux-x64.so /opt/mine/libtrace.so"), "/opt/mine/libtrace.so");
  assert.equal(withoutAddonShim("/opt/a.so:/x/addon-shim-linux-arm64.so:/opt/b.so"), "/opt/a.so /opt/b.so");
  assert.equal(withoutAddonShim(undefined), undefined);
});

test("the thread pool is on by default up to 4 cores, where it was measured a win; shared cells only with forks; a user's mode wins", () => {
  assert.equal(addonShimMode({}, 2), "pool,nosync,greedy");
  assert.equal(addonShimMode({}, 4), "pool,nosync,greedy");
  assert.equal(addonShimMode({}, 16), "nosync,greedy");
  assert.equal(addonShimMode({ ASK_CODEBASE_FORKS: "on" }, 2), "pool,nosync,greedy,share");
  assert.equal(addonShimMode({ ASK_CODEBASE_FORKS: "on" }, 16), "nosync,greedy,share");
  assert.equal(addonShimMode({ ASK_CODEBASE_FORKS: "on", ASK_CODEBASE_ADDON_SHIM: "greedy" }, 16), "greedy");
  assert.equal(addonShimMode({ ASK_CODEBASE_ADDON_SHIM: "pool" }, 16), "pool");
  assert.equal(addonShimMode({ ASK_CODEBASE_ADDON_SHIM: " on " }, 16), "on");
});

test("a process the shim was preloaded into passes on the user's preloads only, and runs in the mode for its cores", () => {
  const env: NodeJS.ProcessEnv = { LD_PRELOAD: "/x/dist/addon-shim-linux-x64.so /opt/mine/libtrace.so" };
  assert.equal(settleAddonShim(env, 16), "nosync,greedy");
  assert.deepEqual(env, { LD_PRELOAD: "/opt/mine/libtrace.so", ASK_CODEBASE_ADDON_SHIM: "nosync,greedy" });
  const alone: NodeJS.ProcessEnv = { LD_PRELOAD: "/x/dist/addon-shim-linux-x64.so", ASK_CODEBASE_ADDON_SHIM: "pool" };
  assert.equal(settleAddonShim(alone, 2), "pool");
  assert.deepEqual(alone, { ASK_CODEBASE_ADDON_SHIM: "pool" });
});
