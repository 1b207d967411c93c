// One typed view of the `askCodebase.*` settings (package.json contributes.configuration).
import * as vscode from "vscode";
import type { GpuChoice } from "../engine/llama/runtime";
import type { ServerKind } from "../engine/server/serverApi";
import { CLASSIFY_MODES, type ClassifyMode } from "../core/wim/verdict";
import { DEFAULT_CACHE_MIB } from "../core/cache/stateCache";

export interface AskConfig {
  model: string;
  gpu: GpuChoice;
  threads: number;
  gpuMemoryReserveMiB: number;
  segmentTokens: number;
  marginTokens: number;
  answerTokens: number;
  include: string[];
  exclude: string[];
  respectGitignore: boolean;
  classify: ClassifyMode;
  confirmAboveTokens: number;
  cacheSizeMiB: number;
  serverUrl: string;
  serverKind: "auto" | ServerKind;
  serverModel: string;
}

export const SECTION = "askCodebase";

export function readConfig(): AskConfig {
  const c = vscode.workspace.getConfiguration(SECTION);
  return {
    model: c.get<string>("model", "").trim(),
    gpu: c.get<GpuChoice>("gpu", "auto"),
    threads: c.get<number>("threads", 0),
    gpuMemoryReserveMiB: c.get<number>("gpuMemoryReserveMiB", 0),
    segmentTokens: c.get<number>("segmentTokens", 4096),
    marginTokens: c.get<number>("marginTokens", 128),
    answerTokens: c.get<number>("answerTokens", 512),
    include: c.get<string[]>("include", []),
    exclude: c.get<string[]>("exclude", []),
    respectGitignore: c.get<boolean>("respectGitignore", true),
    classify: classifyMode(c.get<unknown>("classify", "fused")),
    confirmAboveTokens: c.get<number>("confirmAboveTokens", 100_000),
    cacheSizeMiB: c.get<number>("cacheSizeMiB", DEFAULT_CACHE_MIB),
    serverUrl: c.get<string>("serverUrl", "").trim(),
    serverKind: c.get<"auto" | ServerKind>("serverKind", "auto"),
    serverModel: c.get<string>("serverModel", "").trim(),
  };
}

/** Settings written before the modes existed hold true or false. */
function classifyMode(value: unknown): ClassifyMode {
  if (value === false) return "off";
  return CLASSIFY_MODES.includes(value as ClassifyMode) ? (value as ClassifyMode) : "fused";
}
