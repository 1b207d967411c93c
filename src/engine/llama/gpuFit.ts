// How many of a model's layers can stay on the GPU so that a context of a given size fits beside
// them. node-llama-cpp's "auto" picks layers for a default context when the model loads; a large
// codebase asks for a larger one later. Rather than refuse a question the GPU could still serve
// with part of the model on the CPU, the engine reloads the model with the layers this finds.
// (node-llama-cpp's own `gpuLayers.fitContext` also subtracts half of the VRAM padding again, which
// with a large `gpuMemoryReserveMiB` leaves nothing: it refused the model outright on the H200.)
import type { GgufInsights } from "node-llama-cpp";

export interface ContextShape {
  contextSize: number;
  sequences: number;
  batchSize?: number;
  flashAttention?: boolean | "auto";
}

/** GPU bytes a model with `layers` offloaded needs, weights and context together. */
export type GpuNeed = (layers: number) => Promise<number>;

export function gpuNeedOf(insights: GgufInsights, context: ContextShape): GpuNeed {
  return async (layers) => {
    const model = await insights.estimateModelResourceRequirementsV2({ gpuLayers: layers });
    const ctx = await insights.estimateContextResourceRequirementsV2({
      contextSize: context.contextSize, modelGpuLayers: layers, sequences: context.sequences,
      ...(context.batchSize ? { batchSize: context.batchSize } : {}),
      ...(context.flashAttention !== undefined ? { flashAttention: context.flashAttention } : {}),
    });
    return model.gpuVram + ctx.gpuVram;
  };
}

/**
 * The most layers, below `below`, whose weights and context fit in `availableBytes`; 0 when none
 * does. The need grows with the layers, so a binary search asks the estimator log2(layers) times.
 */
export async function layersThatFit(need: GpuNeed, availableBytes: number, below: number): Promise<number> {
  let lo = 0;
  let hi = below - 1;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if ((await need(mid)) <= availableBytes) lo = mid;
    else hi = mid - 1;
  }
  return lo > 0 && (await need(lo)) <= availableBytes ? lo : 0;
}
