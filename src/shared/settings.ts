// Every setting a question runs with, in one table: its type, range, default, where it may be set
// (VS Code scope), its command-line flag and what it means. The extension's manifest
// (contributes.configuration, held to this by a test), its typed config, the CLI's flags, their
// validation and help, and the engine's reload key are all derived from here.
import { CLASSIFY_MODES } from "../core/wim/verdict";
import { encodingName } from "../core/workspace/textEncoding";

export const GPU_CHOICES = ["auto", "cuda", "vulkan", "metal", "cpu"] as const;
export type GpuChoice = (typeof GPU_CHOICES)[number];
export const SERVER_KINDS = ["llama-server", "vllm"] as const;
export type ServerKind = (typeof SERVER_KINDS)[number];

/**
 * VS Code's setting scopes. "machine": only in user settings, never from a repository's
 * .vscode/settings.json (it could point the model or the server elsewhere). "machine-overridable":
 * user settings, which a workspace may override.
 */
type Scope = "application" | "machine" | "machine-overridable" | "window" | "resource";

interface Base {
  description: string;
  /** The description is Markdown (links, `code`). */
  markdown?: boolean;
  scope?: Scope;
  /** The CLI's flag, without dashes; absent: the setting exists only in VS Code. */
  flag?: string;
  /** The flag's one line in the CLI's help. */
  help?: string;
  /** The flag's value as the help shows it. */
  metavar?: string;
  /** Changing it means another engine: the model is loaded again. */
  reloads?: true;
  /** Read by the extension only (never sent to the engine). */
  hostOnly?: true;
}
interface StringSpec extends Base {
  kind: "string"; default: string;
  /** Which values it takes, beyond being text, and how messages say so. */
  accepts?: { test: (value: string) => boolean; words: string };
}
interface IntegerSpec extends Base { kind: "integer"; default: number; min: number; max: number }
interface BooleanSpec extends Base { kind: "boolean"; default: boolean; /** The flag turns the setting off (`--no-gitignore`). */ negatedFlag?: true }
interface EnumSpec extends Base { kind: "enum"; default: string; values: readonly string[]; valueDescriptions: readonly string[] }
interface StringsSpec extends Base { kind: "strings"; default: readonly string[] }
export type OptionSpec = StringSpec | IntegerSpec | BooleanSpec | EnumSpec | StringsSpec;

export const OPTIONS = {
  model: {
    kind: "string", default: "", scope: "machine", flag: "model", help: "a GGUF file, an hf:user/repo:quant id or a URL (downloaded once)", metavar: "FILE|hf:URI|URL", reloads: true,
    markdown: true,
    description: "The model: a GGUF file path, an `hf:user/repo:quant` id or a URL. Empty: the first question offers the Qwen2.5-Coder instruct model suggested for this machine (by its GPU, or its cores and memory), and downloads it once into the extension's storage only when you choose it.",
  },
  modelEndpoint: {
    kind: "string", default: "", scope: "machine", flag: "model-endpoint", help: "the hub or mirror hf: models download from", metavar: "URL", markdown: true,
    description: "Where `hf:` models are downloaded from: a Hugging Face mirror's URL, for networks where the hub is blocked. Empty: `$MODEL_ENDPOINT` or `$HF_ENDPOINT` when set, else https://huggingface.co.",
  },
  gpu: {
    kind: "enum", default: "auto", values: GPU_CHOICES, scope: "machine-overridable", flag: "gpu", help: "where the model runs", reloads: true,
    valueDescriptions: [
      "The best GPU backend that loads here (CUDA, then Vulkan; Metal on a Mac), else the CPU.",
      "NVIDIA's CUDA; falls back to Vulkan, then the CPU, when it fails.",
      "Vulkan (AMD, Intel, NVIDIA); falls back to the CPU when it fails.",
      "Apple's Metal.",
      "No GPU.",
    ],
    description: "Where the model runs. auto picks the best GPU backend that loads, else the CPU.",
  },
  gpuMemoryReserveMiB: {
    kind: "integer", default: 0, min: 0, max: 1_048_576, scope: "machine-overridable", flag: "gpu-reserve-mib", help: "GPU memory to leave to other programs, in MiB", metavar: "N", reloads: true,
    description: "GPU memory to leave free for other programs, in MiB. Model layers that do not fit in the rest run on the CPU, and each run says how many fit.",
  },
  threads: {
    kind: "integer", default: 0, min: 0, max: 1024, scope: "machine-overridable", flag: "threads", help: "CPU threads; 0 uses every core", metavar: "N", reloads: true,
    description: "CPU threads for the engine; 0 uses every core.",
  },
  segmentTokens: {
    kind: "integer", default: 4096, min: 64, max: 131_072, flag: "segment-tokens", help: "tokens per segment: one margin is written after each", metavar: "N",
    description: "Tokens per segment: one margin is written after each.",
  },
  marginTokens: {
    kind: "integer", default: 128, min: 1, max: 4096, flag: "margin-tokens", help: "the longest a margin may be, in tokens", metavar: "N",
    description: "The longest a margin may be, in tokens.",
  },
  answerTokens: {
    kind: "integer", default: 512, min: 1, max: 32_768, flag: "answer-tokens", help: "the longest the answer may be, in tokens", metavar: "N",
    description: "The longest an answer may be, in tokens.",
  },
  include: {
    kind: "strings", default: [], flag: "include", help: "read only files matching this gitignore-style pattern", metavar: "GLOB",
    description: "Read only files matching these gitignore-style patterns (empty: everything).",
  },
  exclude: {
    kind: "strings", default: [], flag: "exclude", help: "never read files matching this pattern", metavar: "GLOB",
    description: "Never read files matching these gitignore-style patterns.",
  },
  maxFileKiB: {
    kind: "integer", default: 1024, min: 1, max: 65_536, flag: "max-file-kib", help: "read files up to this size, in KiB (larger ones are skipped as too large)", metavar: "N",
    description: "Read files up to this size, in KiB; larger ones are skipped as too large. A file larger than a segment is cut at line boundaries, so raising it reads a large source file (a generated parser, an amalgamation) in pieces.",
  },
  useExcludeSettings: {
    kind: "boolean", default: true, hostOnly: true, markdown: true,
    flag: "no-exclude-settings", negatedFlag: true, help: "read what files.exclude and search.exclude in the folder's .vscode/settings.json hide",
    description: "Leave out what `#files.exclude#` and `#search.exclude#` leave out, as VS Code's search does (in VS Code's glob syntax, per workspace folder). The CLI reads them from the nearest `.vscode/settings.json` at or above the folder it reads.",
  },
  respectGitignore: {
    kind: "boolean", default: true, flag: "no-gitignore", help: "read what .gitignore and git's excludes would leave out", negatedFlag: true,
    description: "Skip what .gitignore files, .git/info/exclude and the global git excludes ignore.",
  },
  submodules: {
    kind: "boolean", default: true, flag: "no-submodules", negatedFlag: true, help: "leave submodules and repositories inside unread",
    description: "Read submodules and repositories inside the workspace, each under its own ignore rules.",
  },
  encoding: {
    kind: "string", default: "", flag: "encoding", help: "the encoding of files that are neither UTF-8 nor UTF-16 (default windows-1252)", metavar: "LABEL", markdown: true,
    accepts: { test: (v) => v === "" || encodingName(v) !== undefined, words: "an encoding's name, such as windows-1252, iso-8859-2, shift_jis or gbk (or a VS Code files.encoding id), or empty" },
    description: "The encoding of files that are neither UTF-8 nor UTF-16 (which are recognized by themselves), such as `windows-1252`, `iso-8859-2`, `shift_jis` or `gbk`; VS Code's `files.encoding` ids work too. Empty: the `files.encoding` of the workspace folder (the CLI: of the folder's `.vscode/settings.json`) when it names such an encoding, else Windows-1252. Without it such files would be skipped as binary.",
  },
  classify: {
    kind: "enum", default: "fused", values: CLASSIFY_MODES, flag: "classify", help: "how margins are judged relevant (off keeps every margin)",
    valueDescriptions: [
      "Each margin opens with its own yes/no verdict; an irrelevant one stops there (fastest).",
      "A second pass judges each finished margin, overlapped with reading the next segment.",
      "Keep every margin.",
    ],
    description: "How margins are judged relevant; irrelevant ones are folded away and left out of the answer.",
  },
  confirmAboveTokens: {
    kind: "integer", default: 100_000, min: 0, max: Number.MAX_SAFE_INTEGER, hostOnly: true,
    description: "Ask before reading a workspace of more tokens than this.",
  },
  serverUrl: {
    kind: "string", default: "", scope: "machine", flag: "server", help: "run the model on a llama-server or vLLM server; --model then names a GGUF of it for its tokenizer", metavar: "URL", reloads: true, markdown: true,
    description: "Run the model on a server instead of this machine: the URL of a llama.cpp `llama-server` or a vLLM OpenAI-compatible server (for example `http://gpu-box:8080`). `askCodebase.model` then names a GGUF of the same model, used only for its tokenizer and chat template. The API key, if the server needs one, is kept in VS Code's secret storage: run **Ask codebase: Set Server API Key...**.",
  },
  serverKind: {
    kind: "enum", default: "auto", values: ["auto", ...SERVER_KINDS], scope: "machine", flag: "server-kind", help: "the server's protocol", reloads: true,
    valueDescriptions: ["Ask the server which it is.", "llama.cpp's llama-server.", "vLLM's OpenAI-compatible server."],
    description: "Which protocol the server speaks; auto asks it.",
  },
  serverModel: {
    kind: "string", default: "", scope: "machine", flag: "server-model", help: "the served model's name (vLLM)", metavar: "NAME", reloads: true,
    description: "The served model's name (vLLM); empty takes the first the server lists.",
  },
  cacheSizeMiB: {
    kind: "integer", default: 4096, min: 0, max: 16_777_216, scope: "machine-overridable", flag: "cache-mib", help: "disk space for the warm codebase cache; 0 turns it off", metavar: "N", markdown: true,
    description: "Disk space for the warm codebase cache: after a question, the model's state holding the codebase is saved, so the next question about the same (or partly edited) codebase does not read it again. Least recently used entries go first. `0` turns it off.",
  },
} as const satisfies Record<string, OptionSpec>;

export type OptionName = keyof typeof OPTIONS;
type ValueOf<S> = S extends { kind: "integer" } ? number
  : S extends { kind: "boolean" } ? boolean
  : S extends { kind: "strings" } ? string[]
  : S extends { kind: "enum"; values: readonly (infer V)[] } ? V
  : string;
/** Every setting's value, as the extension reads them and the CLI parses them. */
export type Settings = { -readonly [K in OptionName]: ValueOf<(typeof OPTIONS)[K]> };
export type HostOnlyName = { [K in OptionName]: (typeof OPTIONS)[K] extends { hostOnly: true } ? K : never }[OptionName];

/**
 * What a question runs with in the engine: the settings it reads, and where the host keeps its
 * files (the extension's storage, or the CLI's cache folder) and secrets.
 */
export type RunSettings = Omit<Settings, HostOnlyName> & {
  /** Where remote models are downloaded to. */
  modelDirectory: string;
  /** The warm cache's folder (its size is cacheSizeMiB; 0 turns it off). */
  cacheDir: string;
  /** The server's API key, from VS Code's secret storage or $ASK_CODEBASE_API_KEY. */
  serverApiKey?: string;
  /** Where backends built here from source are kept (the extension's storage; the CLI's cache). */
  backendBuildDir?: string;
};

export const SECTION = "askCodebase";

/** A model setting that names something to download (an hf: URI or a URL) rather than a file here. */
export function isRemoteModel(spec: string): boolean {
  return /^(hf:|huggingface:|https?:\/\/)/i.test(spec.trim());
}
const spec = (name: OptionName): OptionSpec => OPTIONS[name];
export const OPTION_NAMES = Object.keys(OPTIONS) as OptionName[];

export function defaultSettings(): Settings {
  const out: Record<string, unknown> = {};
  for (const name of OPTION_NAMES) {
    const d = spec(name).default;
    out[name] = Array.isArray(d) ? [...d] : d;
  }
  return out as Settings;
}

/**
 * VS Code's `files.encoding` as the fallback for files that are not UTF-8, when it names such an
 * encoding that can be decoded here; else "" (the default, Windows-1252). UTF-8 and UTF-16 are
 * recognized without it, and as a fallback UTF-16 would turn ASCII text into nonsense.
 */
export function editorFallbackEncoding(filesEncoding: unknown): string {
  const name = typeof filesEncoding === "string" ? encodingName(filesEncoding) : undefined;
  return name && name !== "utf-8" && !name.startsWith("utf-16") ? filesEncoding as string : "";
}

/** What a setting accepts, in words: for messages. */
export function allowed(name: OptionName): string {
  const s = spec(name);
  switch (s.kind) {
    case "integer": return s.max >= Number.MAX_SAFE_INTEGER ? `a whole number of at least ${s.min}` : `a whole number from ${s.min} to ${s.max.toLocaleString("en-US")}`;
    case "enum": return `one of ${s.values.join(", ")}`;
    case "boolean": return "true or false";
    case "strings": return "a list of patterns";
    case "string": return s.accepts?.words ?? "text";
  }
}

/** The value if it is one the setting accepts, else an error message naming what it accepts. */
export function checkValue(name: OptionName, value: unknown): { value: unknown } | { error: string } {
  const s = spec(name);
  const ok = ((): boolean => {
    switch (s.kind) {
      case "integer": return typeof value === "number" && Number.isInteger(value) && value >= s.min && value <= s.max;
      case "enum": return typeof value === "string" && s.values.includes(value);
      case "boolean": return typeof value === "boolean";
      case "strings": return Array.isArray(value) && value.every((v) => typeof v === "string");
      case "string": return typeof value === "string" && (!s.accepts || s.accepts.test(value.trim()));
    }
  })();
  if (ok) return { value: s.kind === "string" ? (value as string).trim() : value };
  return { error: `${name} must be ${allowed(name)}, got ${JSON.stringify(value)}` };
}

/**
 * Settings from a source of raw values (VS Code's configuration): a value the setting does not
 * accept is replaced by its default and named in `problems`, so one bad entry never stops a run.
 */
export function settingsFrom(get: (name: OptionName) => unknown): { settings: Settings; problems: string[] } {
  const settings = defaultSettings() as Record<string, unknown>;
  const problems: string[] = [];
  for (const name of OPTION_NAMES) {
    let raw = get(name);
    if (raw === undefined) continue;
    // Settings written before the classify modes existed hold true or false.
    if (name === "classify" && typeof raw === "boolean") raw = raw ? "fused" : "off";
    const checked = checkValue(name, raw);
    if ("value" in checked) settings[name] = checked.value;
    else problems.push(`${SECTION}.${checked.error}; using ${JSON.stringify(spec(name).default)}`);
  }
  return { settings: settings as Settings, problems };
}

/** The settings a loaded engine depends on: when they change, the model is loaded again. */
export function engineKey(settings: RunSettings): string {
  const key: Record<string, unknown> = {};
  for (const name of OPTION_NAMES) if ((spec(name) as Base).reloads) key[name] = (settings as Record<string, unknown>)[name];
  return JSON.stringify({ ...key, serverApiKey: settings.serverApiKey ?? "" });
}

/** package.json's contributes.configuration.properties, as this table makes it. */
export function manifestProperties(): Record<string, Record<string, unknown>> {
  const out: Record<string, Record<string, unknown>> = {};
  for (const name of OPTION_NAMES) {
    const s = spec(name);
    const p: Record<string, unknown> = {};
    switch (s.kind) {
      case "integer": p.type = "integer"; p.default = s.default; p.minimum = s.min; if (s.max < Number.MAX_SAFE_INTEGER) p.maximum = s.max; break;
      case "enum": p.type = "string"; p.enum = [...s.values]; p.enumDescriptions = [...s.valueDescriptions]; p.default = s.default; break;
      case "boolean": p.type = "boolean"; p.default = s.default; break;
      case "strings": p.type = "array"; p.items = { type: "string" }; p.default = [...s.default]; break;
      case "string": p.type = "string"; p.default = s.default; break;
    }
    p[s.markdown ? "markdownDescription" : "description"] = s.description;
    if (s.scope) p.scope = s.scope;
    out[`${SECTION}.${name}`] = p;
  }
  return out;
}

/** node:util parseArgs options for every setting that has a flag. */
export function cliOptions(): Record<string, { type: "string" | "boolean"; multiple?: boolean }> {
  const out: Record<string, { type: "string" | "boolean"; multiple?: boolean }> = {};
  for (const name of OPTION_NAMES) {
    const s = spec(name);
    if (!s.flag) continue;
    out[s.flag] = s.kind === "boolean" ? { type: "boolean" } : s.kind === "strings" ? { type: "string", multiple: true } : { type: "string" };
  }
  return out;
}

export class SettingError extends Error {
  override name = "SettingError";
}

/**
 * Settings from parsed CLI flags, over `base` (the defaults, or the environment's). A flag given a
 * value the setting does not accept throws, naming the flag and the range; a flag given twice
 * (parseArgs keeps the last) is refused too, as the caller may have meant either.
 */
export function settingsFromFlags(values: Record<string, unknown>, base: Settings = defaultSettings(), repeated: ReadonlySet<string> = new Set()): Settings {
  const out = { ...base } as Record<string, unknown>;
  for (const name of OPTION_NAMES) {
    const s = spec(name);
    if (!s.flag || values[s.flag] === undefined) continue;
    if (repeated.has(s.flag) && s.kind !== "strings") throw new SettingError(`--${s.flag} was given more than once`);
    const raw = values[s.flag];
    let value: unknown = raw;
    if (s.kind === "integer") {
      const text = String(raw).trim();
      value = /^-?\d+$/.test(text) ? Number(text) : NaN;
    } else if (s.kind === "boolean") {
      value = s.negatedFlag ? !raw : raw;
    }
    const checked = checkValue(name, value);
    if ("error" in checked) throw new SettingError(`--${s.flag} must be ${allowed(name)}, got "${String(raw)}"`);
    out[name] = checked.value;
  }
  return out as Settings;
}

/** One line per flag, for the CLI's usage text. */
export function flagHelp(names: readonly OptionName[] = OPTION_NAMES): string {
  const rows: [string, string][] = [];
  for (const name of names) {
    const s = spec(name);
    if (!s.flag) continue;
    const arg = s.kind === "boolean" ? "" : s.kind === "enum" ? ` ${s.values.join("|")}` : ` ${s.metavar ?? "VALUE"}`;
    const range = s.kind === "integer" ? ` (${s.min}-${s.max.toLocaleString("en-US")}, default ${s.default})` : s.kind === "enum" ? ` (default ${s.default})` : s.kind === "strings" ? " (repeatable)" : "";
    rows.push([`--${s.flag}${arg}`, `${s.help ?? s.description}${range}`]);
  }
  const width = Math.max(...rows.map(([f]) => f.length)) + 2;
  return rows.map(([f, d]) => `  ${f.padEnd(width)}${d}`).join("\n");
}
