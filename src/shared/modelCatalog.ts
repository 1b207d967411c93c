// The models offered to a machine that has not chosen one, and where downloads go. No vscode
// import: the extension, the CLI and the engine share it, and it is tested under Node.
import { cpus, homedir, totalmem } from "node:os";
import { join } from "node:path";
import { speedFromSize } from "./speed";
import { formatBytes } from "../core/bytes";

const GiB = 1024 ** 3;

/** Where the CLI downloads models (the extension uses its own storage). */
export function defaultModelDirectory(): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "ask-codebase", "models");
}

export interface ModelOption { spec: string; label: string; approxBytes: number }

/** "1.2 GiB": a model's download, as the offers show it. */
export function downloadSize(option: ModelOption): string {
  return formatBytes(option.approxBytes);
}

/** Qwen2.5-Coder instruct models: small, code-trained, with a chat template node-llama-cpp knows. */
export const MODEL_LADDER: readonly ModelOption[] = [
  { spec: "hf:Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF:Q8_0", label: "Qwen2.5-Coder 0.5B (Q8_0)", approxBytes: 0.7 * GiB },
  { spec: "hf:Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF:Q4_K_M", label: "Qwen2.5-Coder 1.5B (Q4_K_M)", approxBytes: 1.2 * GiB },
  { spec: "hf:Qwen/Qwen2.5-Coder-3B-Instruct-GGUF:Q4_K_M", label: "Qwen2.5-Coder 3B (Q4_K_M)", approxBytes: 2.1 * GiB },
  { spec: "hf:Qwen/Qwen2.5-Coder-7B-Instruct-GGUF:Q4_K_M", label: "Qwen2.5-Coder 7B (Q4_K_M)", approxBytes: 4.7 * GiB },
];

/** What a suggestion is made from: memory, cores, and the GPU where one is known. */
export interface Machine { ramBytes: number; cores: number; gpu?: { name: string; vramBytes: number } }

/** This machine as the OS describes it: memory and cores, no GPU (only the engine can ask one). */
export function localMachine(): Machine {
  return { ramBytes: totalmem(), cores: cpus().length };
}

export interface Suggestion {
  option: ModelOption;
  /** Why this one, in a sentence a user reads before a download. */
  why: string;
  /** About how many codebase tokens a second it reads here (prefill; the margins come on top). */
  readTokensPerSecond: number;
  where: "gpu" | "cpu";
}

/**
 * The model to suggest to a machine that has none: on a GPU, the largest whose weights take at most
 * half of its memory (the rest holds a long codebase's cache); on the CPU alone, what its cores read
 * at a useful speed (two cores: the smallest; a 7B model there reads a codebase at tens of tokens a
 * second), and never more than a quarter of the memory. The CLI's default and the extension's
 * first-run offer both come from here.
 */
export function suggestModel(m: Machine): Suggestion {
  if (m.gpu && m.gpu.vramBytes > 0) {
    let option = MODEL_LADDER[0]!;
    for (const o of MODEL_LADDER) if (o.approxBytes <= m.gpu.vramBytes / 2) option = o;
    const speed = speedFromSize(option.approxBytes, "gpu", m.cores);
    return { option, where: "gpu", readTokensPerSecond: speed.prefillTokensPerSecond, why: `it fits in half of the ${m.gpu.name}'s ${formatBytes(m.gpu.vramBytes)}, leaving the rest for a long codebase` };
  }
  const byCores = m.cores <= 2 ? 0 : m.cores <= 4 ? 1 : m.cores <= 8 ? 2 : 3;
  let option = MODEL_LADDER[0]!;
  for (const [i, o] of MODEL_LADDER.entries()) if (i <= byCores && o.approxBytes <= m.ramBytes / 4) option = o;
  const speed = speedFromSize(option.approxBytes, "cpu", m.cores);
  return {
    option, where: "cpu", readTokensPerSecond: speed.prefillTokensPerSecond,
    why: `no GPU is in use: on ${m.cores} CPU core${m.cores === 1 ? "" : "s"} it reads about ${Math.round(speed.prefillTokensPerSecond).toLocaleString("en-US")} tokens a second; a larger model would read more slowly`,
  };
}
