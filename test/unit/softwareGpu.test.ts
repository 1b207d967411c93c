// Which device lists mean "no GPU": none at all, or only software renderers (the engine-level
// test probes Mesa's lavapipe for real where it is installed).
import { test } from "node:test";
import assert from "node:assert/strict";
import { noRealGpu, NoRealGpu } from "../../src/engine/backend/softwareGpu";

test("no device, or only software renderers, is no GPU; any real device is one", () => {
  assert.equal(noRealGpu([]), true);
  assert.equal(noRealGpu(["llvmpipe (LLVM 15.0.6, 256 bits)"]), true);
  assert.equal(noRealGpu(["SwiftShader Device (Subzero)"]), true);
  assert.equal(noRealGpu(["NVIDIA H200"]), false);
  assert.equal(noRealGpu(["llvmpipe (LLVM 15.0.6, 256 bits)", "AMD Radeon RX 7600 (RADV NAVI33)"]), false);
  assert.match(new NoRealGpu([]).message, /sees no device/);
  assert.match(new NoRealGpu(["llvmpipe (LLVM 15.0.6, 256 bits)"]).message, /^its only device, llvmpipe \(LLVM 15\.0\.6, 256 bits\), is a software renderer/);
});
