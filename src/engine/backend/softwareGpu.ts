// A GPU build of llama.cpp can load on a machine without a GPU: the Vulkan loader is installed,
// and often Mesa's lavapipe (llvmpipe) with it, which ggml's Vulkan backend leaves out as the CPU
// it is; SwiftShader and other software renderers answer as devices too. Taking such a backend for
// a GPU labels the run "vulkan", offloads no layers ("0 of N layers fit in vulkan memory"), and
// keeps its speeds and warm-cache states apart from the CPU's, for nothing.

/** True when the backend sees no device, or only software renderers. */
export function noRealGpu(names: readonly string[]): boolean {
  return names.every((n) => /llvmpipe|lavapipe|swiftshader|software/i.test(n));
}

/** A backend that loaded is still no GPU: the probe reports it "unavailable" (no news under "auto"), not failed. */
export class NoRealGpu extends Error {
  override name = "NoRealGpu";
  constructor(names: readonly string[]) {
    super(names.length
      ? `its only device, ${names.join(", ")}, is a software renderer, which runs on the CPU`
      : "its build loads but sees no device (Mesa's llvmpipe and other software renderers, which run on the CPU, are left out)");
  }
}
