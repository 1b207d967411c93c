// The rule the engine's GPU-only changes share (awakeLoop.ts, decodeAhead.ts): each spends
// a CPU core or GPU time to shorten the wait between a GPU's tokens, which only exists where the whole
// model is on a GPU; with layers on the CPU, ggml's threads need the cores and the CPU's part
// computes before a decode returns.

/** `chosen` is the user's override ("on" or "off"); otherwise only with every layer on a GPU. */
export function wantedWithWholeModelOnGpu(chosen: string | undefined, backend: string, gpuLayers: number, totalLayers: number): boolean {
  const setting = chosen?.trim();
  if (setting === "off") return false;
  if (setting === "on") return true;
  return backend !== "cpu" && gpuLayers >= totalLayers;
}
