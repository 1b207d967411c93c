// Whether the addon shim decodes each generated token ahead, while it travels to JavaScript and
// back (engine/backend/decodeAhead.c says how, and why it never changes a token). It pays only
// where the GPU would otherwise wait for that trip: with the whole model on a GPU. On the CPU a
// decode computes before it returns, so there is nothing to overlap, and a generation's last token,
// decoded ahead and never asked for, would cost a whole CPU token.
// ASK_CODEBASE_DECODE_AHEAD=off|on overrides the choice.
import { wantedWithWholeModelOnGpu } from "./gpuOnly";

/** What the shim reads when a context first decodes; the engine sets it, the user sets ASK_CODEBASE_DECODE_AHEAD. */
export const SHIM_AHEAD_VARIABLE = "ASK_CODEBASE_ADDON_SHIM_AHEAD";

export function decodeAheadWanted(env: NodeJS.ProcessEnv, backend: string, gpuLayers: number, totalLayers: number): boolean {
  return wantedWithWholeModelOnGpu(env.ASK_CODEBASE_DECODE_AHEAD, backend, gpuLayers, totalLayers);
}

/** Tells the shim in this process, for the contexts made from now on. */
export function settleDecodeAhead(env: NodeJS.ProcessEnv, wanted: boolean): void {
  env[SHIM_AHEAD_VARIABLE] = wanted ? "on" : "off";
}
