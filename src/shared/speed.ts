// A model's rough speed from its size and where it runs, before this machine has measured it:
// prefill is compute-bound and decoding memory-bound, both in proportion to the weights' bytes.
// The constants are this project's CPU and H200 figures (README), rounded down, so that a first
// estimate is more often long than short. Used for a plan's first time range and to say how fast
// a suggested model would read here.

/** A machine's speed with one model. */
export interface Speed { prefillTokensPerSecond: number; decodeSecondsPerToken: number; backend: string }

export function speedFromSize(modelBytes: number, where: "cpu" | "gpu", cores: number): Speed {
  const gb = Math.max(modelBytes, 1e7) / 1e9;
  if (where === "gpu") return { prefillTokensPerSecond: 8000 / gb, decodeSecondsPerToken: Math.max(0.004, gb / 200), backend: "gpu" };
  return { prefillTokensPerSecond: (60 * cores) / gb, decodeSecondsPerToken: gb / 8, backend: "cpu" };
}
