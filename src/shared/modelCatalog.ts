// The models offered to a machine that has not chosen one, and where downloads go. No vscode
// import: the extension, the CLI and the engine share it, and it is tested under Node.
import { homedir } from "node:os";
import { join } from "node:path";

const GiB = 1024 ** 3;

/** The CLI's default: a small instruction-tuned code model, good answers on a laptop, about 1.2 GB. */
export const DEFAULT_MODEL = "hf:Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF:Q4_K_M";

/** Where the CLI downloads models (the extension uses its own storage). */
export function defaultModelDirectory(): string {
  return join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "ask-codebase", "models");
}

export interface ModelOption { spec: string; label: string; approxBytes: number }

/** Qwen2.5-Coder instruct models: small, code-trained, with a chat template node-llama-cpp knows. */
export const MODEL_LADDER: readonly ModelOption[] = [
  { spec: "hf:Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF:Q8_0", label: "Qwen2.5-Coder 0.5B (Q8_0)", approxBytes: 0.7 * GiB },
  { spec: "hf:Qwen/Qwen2.5-Coder-1.5B-Instruct-GGUF:Q4_K_M", label: "Qwen2.5-Coder 1.5B (Q4_K_M)", approxBytes: 1.2 * GiB },
  { spec: "hf:Qwen/Qwen2.5-Coder-3B-Instruct-GGUF:Q4_K_M", label: "Qwen2.5-Coder 3B (Q4_K_M)", approxBytes: 2.1 * GiB },
  { spec: "hf:Qwen/Qwen2.5-Coder-7B-Instruct-GGUF:Q4_K_M", label: "Qwen2.5-Coder 7B (Q4_K_M)", approxBytes: 4.7 * GiB },
];

/**
 * The largest model whose weights take at most a quarter of the memory it would run from (VRAM
 * when known, else RAM), leaving room for the KV cache of a long codebase and for everything else.
 */
export function defaultModel(memory: { ramBytes: number; vramBytes?: number }): ModelOption {
  const budget = (memory.vramBytes && memory.vramBytes > 0 ? memory.vramBytes : memory.ramBytes) / 4;
  let choice = MODEL_LADDER[0]!;
  for (const option of MODEL_LADDER) if (option.approxBytes <= budget) choice = option;
  return choice;
}
