import assert from "node:assert/strict";
import { test } from "node:test";
import { formatBytes } from "../../src/core/bytes";

test("sizes in binary units, at most three figures, stepping up before rounding would show 1024", () => {
  assert.equal(formatBytes(0), "0 bytes");
  assert.equal(formatBytes(1), "1 byte");
  assert.equal(formatBytes(1023), "1023 bytes");
  assert.equal(formatBytes(1024), "1.0 KiB");
  assert.equal(formatBytes(4300), "4.2 KiB");
  assert.equal(formatBytes(10 * 1024), "10 KiB");
  assert.equal(formatBytes(1024 * 1024 - 1), "1.0 MiB");
  assert.equal(formatBytes(350_695_364), "334 MiB");
  assert.equal(formatBytes(4 * 2 ** 30), "4.0 GiB");
  assert.equal(formatBytes(1.5 * 2 ** 30), "1.5 GiB");
  assert.equal(formatBytes(12 * 2 ** 30), "12 GiB");
  assert.equal(formatBytes(3 * 2 ** 40), "3.0 TiB");
  assert.equal(formatBytes(5000 * 2 ** 40), "5000 TiB");
  assert.equal(formatBytes(Number.NaN), "0 bytes");
});
