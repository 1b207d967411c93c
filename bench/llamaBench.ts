// llama.cpp's own llama-bench, run on the same model file: the engine's limit, printed beside the
// project's figure so that a ratio, not a guess, says how much the project adds. The binary comes
// from bench/build-llama-bench.sh (the llama.cpp commit node-llama-cpp 3.21.1 ships), passed as
// --llama-bench PATH or $LLAMA_BENCH.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";

export interface LlamaBenchRow { tokensPerSecond: number; msPerToken: number; prompt: number; generated: number; depth: number }

/** The binary to compare with, if one was given and exists. */
export function llamaBenchBinary(flag: string | undefined): string | undefined {
  const path = flag ?? process.env.LLAMA_BENCH;
  if (!path) return undefined;
  if (!existsSync(path)) throw new Error(`llama-bench not found at ${path} (bench/build-llama-bench.sh builds it)`);
  return path;
}

/**
 * One llama-bench measurement: `prompt` tokens prefilled (batch `batch`, micro-batch `ubatch`, 512 by default) or
 * `generated` tokens decoded after `depth` tokens of context; flash attention on, every layer on
 * the GPU unless `gpu` is false, three repetitions.
 */
export function llamaBench(bin: string, model: string, o: { prompt?: number; generated?: number; depth?: number; batch?: number; ubatch?: number; gpu?: boolean; threads?: number; extra?: readonly string[] }): LlamaBenchRow {
  const args = [
    "-m", model, "-o", "json", "-r", "3", "-fa", "1",
    "-p", String(o.prompt ?? 0), "-n", String(o.generated ?? 0), "-d", String(o.depth ?? 0),
    "-b", String(o.batch ?? 2048), "-ub", String(o.ubatch ?? 512), "-ngl", o.gpu === false ? "0" : "99",
    ...(o.threads ? ["-t", String(o.threads)] : []), ...(o.extra ?? []),
  ];
  const r = spawnSync(bin, args, { encoding: "utf8", maxBuffer: 16 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`llama-bench ${args.join(" ")} failed (${r.status ?? r.signal}): ${(r.stderr || "").trim().split("\n").slice(-3).join(" | ")}`);
  const rows = JSON.parse(r.stdout) as { n_prompt: number; n_gen: number; n_depth?: number; avg_ts: number }[];
  const row = rows[0];
  if (!row) throw new Error(`llama-bench printed no result: ${r.stdout.slice(0, 200)}`);
  return { tokensPerSecond: row.avg_ts, msPerToken: 1000 / row.avg_ts, prompt: row.n_prompt, generated: row.n_gen, depth: row.n_depth ?? o.depth ?? 0 };
}
