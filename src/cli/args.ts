// The CLI's arguments: settings from the shared option table (flags, their ranges, the
// environment's defaults), and one-line errors with status 2 for what a user typed wrong.
import { stat } from "node:fs/promises";
import { isAbsolute, resolve } from "node:path";
import { parseArgs } from "node:util";
import { defaultStateCacheDirectory } from "../core/cache/stateCache";
import { defaultModelDirectory, localMachine, suggestModel, type Suggestion } from "../shared/modelCatalog";
import { cliOptions, defaultSettings, isRemoteModel, settingsFromFlags, SettingError, type RunSettings, type Settings } from "../shared/settings";

export class UsageError extends Error {
  override name = "UsageError";
}

/** A failure of the work, not of what was typed (a helper process killed, a disk gone): one line, status 1. */
export class WorkFailed extends Error {
  override name = "WorkFailed";
}

export async function folder(path: string | undefined): Promise<string> {
  if (!path) throw new UsageError("a folder to read is required");
  const abs = resolve(path);
  const st = await stat(abs).catch(() => undefined);
  if (!st) throw new UsageError(`no such folder: ${path}`);
  if (!st.isDirectory()) throw new UsageError(`not a folder: ${path}`);
  return abs;
}

type Flags = Record<string, { type: "string" | "boolean"; multiple?: boolean }>;

/**
 * Parses `argv` with the option table's flags and `extra` ones. A flag given twice is refused
 * (parseArgs would keep the last, silently), except the repeatable ones.
 */
export function parseFlags(argv: string[], extra: Flags = {}): { values: Record<string, unknown>; positionals: string[] } {
  const options = { ...cliOptions(), ...extra };
  const { values, positionals, tokens } = parseArgs({ args: argv, allowPositionals: true, options, tokens: true });
  const seen = new Set<string>();
  for (const t of tokens ?? []) {
    if (t.kind !== "option") continue;
    if (seen.has(t.name) && !options[t.name]?.multiple) throw new UsageError(`--${t.name} was given more than once`);
    seen.add(t.name);
  }
  return { values, positionals };
}

/**
 * The settings the flags name over the defaults, the model defaulting to $ASK_CODEBASE_MODEL and
 * then to the default model. A model path is made absolute here: the engine runs elsewhere.
 */
export function settingsOf(values: Record<string, unknown>): Settings {
  let settings: Settings;
  try {
    settings = settingsFromFlags(values, defaultSettings());
  } catch (err) {
    if (err instanceof SettingError) throw new UsageError(err.message);
    throw err;
  }
  if (values.model === undefined) {
    const env = process.env.ASK_CODEBASE_MODEL;
    if (env !== undefined && !env.trim()) throw new UsageError("ASK_CODEBASE_MODEL is set but empty: unset it to use the default model, or name a model with it or --model");
    settings.model = env?.trim() || suggestedModel().option.spec;
  }
  if (!settings.model) throw new UsageError("--model is empty");
  if (!isRemoteModel(settings.model) && !isAbsolute(settings.model)) settings.model = resolve(settings.model);
  return settings;
}

/** What a run needs beyond the settings: where models and the warm cache live, the server's key. */
export function runSettingsOf(settings: Settings, cacheDir: string | undefined): RunSettings {
  const { confirmAboveTokens: _, useExcludeSettings: _host, ...rest } = settings;
  const apiKey = process.env.ASK_CODEBASE_API_KEY;
  return { ...rest, modelDirectory: defaultModelDirectory(), cacheDir: cacheDir ?? defaultStateCacheDirectory(), ...(apiKey ? { serverApiKey: apiKey } : {}) };
}

/** The model suggested for this machine (the extension's first-run offer comes from the same function). */
export function suggestedModel(): Suggestion {
  return suggestModel(localMachine());
}

/** Where the model came from, to name it in an error. */
export function modelSource(values: Record<string, unknown>): string {
  return values.model !== undefined ? "--model" : process.env.ASK_CODEBASE_MODEL?.trim() ? "$ASK_CODEBASE_MODEL" : "the default model";
}
