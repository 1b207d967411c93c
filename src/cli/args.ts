// Shared CLI argument handling: one-line errors, non-zero exits, no stack traces for user mistakes.
import { stat } from "node:fs/promises";
import { resolve } from "node:path";
import { DEFAULT_MODEL } from "../engine/model/modelResolve";

export class UsageError extends Error {
  override name = "UsageError";
}

export function positiveInt(value: string | undefined, flag: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new UsageError(`${flag} needs a positive whole number, got "${value}"`);
  return n;
}

export async function folder(path: string | undefined): Promise<string> {
  if (!path) throw new UsageError("a folder to read is required");
  const abs = resolve(path);
  const st = await stat(abs).catch(() => undefined);
  if (!st) throw new UsageError(`no such folder: ${path}`);
  if (!st.isDirectory()) throw new UsageError(`not a folder: ${path}`);
  return abs;
}

/** --model, else $ASK_CODEBASE_MODEL, else the default model (downloaded once). */
export function modelSpec(value: string | undefined): string {
  return value ?? process.env.ASK_CODEBASE_MODEL ?? DEFAULT_MODEL;
}
