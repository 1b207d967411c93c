// The model suggested to a machine that has none: the CLI's default and the extension's first-run offer.
import { test } from "node:test";
import assert from "node:assert/strict";
import { MODEL_LADDER, suggestModel } from "../../src/shared/modelCatalog";

const GiB = 1024 ** 3;
const label = (m: Parameters<typeof suggestModel>[0]): string => suggestModel(m).option.label;

test("without a GPU the cores decide, never more than a quarter of the memory", () => {
  // This project's CI machine: 2 cores, 24 GiB. Before, RAM alone chose the 7B model here.
  assert.match(label({ ramBytes: 24 * GiB, cores: 2 }), /0\.5B/);
  assert.match(label({ ramBytes: 16 * GiB, cores: 4 }), /1\.5B/);
  assert.match(label({ ramBytes: 32 * GiB, cores: 8 }), /3B/);
  assert.match(label({ ramBytes: 64 * GiB, cores: 16 }), /7B/);
  assert.match(label({ ramBytes: 5 * GiB, cores: 16 }), /1\.5B/, "a quarter of 5 GiB holds the 1.5B model at most");
  assert.match(label({ ramBytes: 1 * GiB, cores: 16 }), /0\.5B/, "the smallest when nothing fits");
  const s = suggestModel({ ramBytes: 24 * GiB, cores: 2 });
  assert.equal(s.where, "cpu");
  assert.match(s.why, /2 CPU cores it reads about [\d,]+ tokens a second/);
});

test("with a GPU, the largest whose weights take at most half of its memory", () => {
  assert.match(label({ ramBytes: 16 * GiB, cores: 4, gpu: { name: "RTX 3060", vramBytes: 12 * GiB } }), /7B/);
  assert.match(label({ ramBytes: 16 * GiB, cores: 4, gpu: { name: "GTX 1650", vramBytes: 4 * GiB } }), /1\.5B/);
  assert.match(label({ ramBytes: 16 * GiB, cores: 4, gpu: { name: "iGPU", vramBytes: 1 * GiB } }), /0\.5B/);
  const s = suggestModel({ ramBytes: 16 * GiB, cores: 4, gpu: { name: "RTX 3060", vramBytes: 12 * GiB } });
  assert.equal(s.where, "gpu");
  assert.match(s.why, /RTX 3060's 12 GiB/);
  assert.ok(s.readTokensPerSecond > suggestModel({ ramBytes: 16 * GiB, cores: 4 }).readTokensPerSecond, "a GPU reads faster, even a larger model");
  assert.ok(MODEL_LADDER.includes(s.option));
});
