// The option table: every spelling of a setting (the manifest, the extension's config, the CLI's
// flags and help, the engine's reload key) comes from it, and holds to it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parseFlags, settingsOf, UsageError } from "../../src/cli/args";
import {
  allowed, checkValue, cliOptions, defaultSettings, editorFallbackEncoding, engineKey, flagHelp, manifestProperties, OPTION_NAMES, OPTIONS, settingsFrom, settingsFromFlags, SettingError, type RunSettings,
} from "../../src/shared/settings";

test("package.json's contributes.configuration is the option table's (npm run manifest writes it)", () => {
  const pkg = JSON.parse(readFileSync("package.json", "utf8"));
  assert.deepEqual(pkg.contributes.configuration.properties, manifestProperties());
  // Every integer setting is an integer with a range; every enum describes its values.
  for (const [name, p] of Object.entries(pkg.contributes.configuration.properties as Record<string, Record<string, unknown>>)) {
    assert.notEqual(p.type, "number", `${name} is an integer`);
    if (p.type === "integer") assert.ok(typeof p.minimum === "number", `${name} has a minimum`);
    if (p.enum) assert.equal((p.enumDescriptions as unknown[]).length, (p.enum as unknown[]).length, `${name} describes each value`);
  }
});

test("every flag parses to its setting, and the help names it with its range", () => {
  const help = flagHelp();
  for (const name of OPTION_NAMES) {
    const spec = OPTIONS[name];
    if (!("flag" in spec)) continue;
    assert.ok(help.includes(`--${spec.flag}`), `--${spec.flag} in the help`);
    assert.ok(cliOptions()[spec.flag], `--${spec.flag} is an option`);
    const sample = spec.kind === "integer" ? String(spec.max) : spec.kind === "enum" ? spec.values.at(-1)! : spec.kind === "strings" ? ["a/**", "b"] : spec.kind === "boolean" ? true : "accepts" in spec ? "shift_jis" : "value";
    const parsed = settingsFromFlags({ [spec.flag]: sample })[name];
    const expected = spec.kind === "integer" ? spec.max : spec.kind === "boolean" ? !("negatedFlag" in spec) : sample;
    assert.deepEqual(parsed, expected, `--${spec.flag}`);
  }
});

test("values beyond a setting's range are refused with the range, from flags and from settings alike", () => {
  assert.throws(() => settingsFromFlags({ "segment-tokens": "1e20" }), (e: Error) => e instanceof SettingError && /--segment-tokens must be a whole number from 64 to 131,072, got "1e20"/.test(e.message));
  assert.throws(() => settingsFromFlags({ threads: "100000" }), /--threads must be a whole number from 0 to 1,024/);
  assert.throws(() => settingsFromFlags({ gpu: "tpu" }), /--gpu must be one of auto, cuda, vulkan, metal, cpu, got "tpu"/);
  assert.throws(() => settingsFromFlags({ "margin-tokens": "0" }), /from 1 to/);
  assert.throws(() => settingsFromFlags({ "answer-tokens": "12.5" }), /whole number/);
  assert.deepEqual(checkValue("threads", 2), { value: 2 });
  // An encoding must be one there is a decoder for, named in any of its spellings.
  assert.throws(() => settingsFromFlags({ encoding: "cp437" }), /--encoding must be an encoding's name, such as windows-1252.*got "cp437"/);
  assert.equal(settingsFromFlags({ encoding: " windows1250 " }).encoding, "windows1250");
  assert.deepEqual(checkValue("encoding", "klingon"), { error: `encoding must be ${allowed("encoding")}, got "klingon"` });
  // VS Code's files.encoding is the fallback only where it names a legacy encoding decodable here.
  assert.equal(editorFallbackEncoding("shiftjis"), "shiftjis");
  assert.equal(editorFallbackEncoding("windows1252"), "windows1252");
  for (const id of ["utf8", "utf8bom", "utf16le", "cp437", "", undefined, 3]) assert.equal(editorFallbackEncoding(id), "", String(id));
  // From VS Code's settings a bad value falls back to the default and is named, once per read.
  const { settings, problems } = settingsFrom((name) => ({ threads: -3, classify: false, segmentTokens: "many", serverUrl: "  http://x  ", encoding: "cp437" } as Record<string, unknown>)[name]);
  assert.equal(settings.threads, 0);
  assert.equal(settings.classify, "off", "settings written before the modes existed hold false");
  assert.equal(settings.segmentTokens, 4096);
  assert.equal(settings.serverUrl, "http://x");
  assert.equal(settings.encoding, "");
  assert.deepEqual(problems.map((p) => p.split(" must")[0]), ["askCodebase.threads", "askCodebase.segmentTokens", "askCodebase.encoding"]);
});

test("the CLI refuses a flag given twice, and reads its model from the environment only when no --model is given", () => {
  assert.throws(() => parseFlags(["--model", "a.gguf", "--model", "b.gguf"]), (e: Error) => e instanceof UsageError && /--model was given more than once/.test(e.message));
  assert.deepEqual(parseFlags(["--include", "a", "--include", "b"]).values.include, ["a", "b"], "repeatable flags repeat");
  const saved = process.env.ASK_CODEBASE_MODEL;
  try {
    process.env.ASK_CODEBASE_MODEL = " ";
    assert.throws(() => settingsOf({}), /ASK_CODEBASE_MODEL is set but empty/);
    assert.equal(settingsOf({ model: "/m.gguf" }).model, "/m.gguf");
    process.env.ASK_CODEBASE_MODEL = "/from/env.gguf";
    assert.equal(settingsOf({}).model, "/from/env.gguf");
    delete process.env.ASK_CODEBASE_MODEL;
    assert.match(settingsOf({}).model, /^hf:/, "else the default model");
    assert.equal(settingsOf({ model: "rel/m.gguf" }).model, `${process.cwd()}/rel/m.gguf`, "a path is made absolute for the engine's process");
  } finally {
    if (saved === undefined) delete process.env.ASK_CODEBASE_MODEL;
    else process.env.ASK_CODEBASE_MODEL = saved;
  }
});

test("the engine's reload key changes with what a loaded engine depends on, and only that", () => {
  const { confirmAboveTokens: _, ...defaults } = defaultSettings();
  const base: RunSettings = { ...defaults, model: "/m.gguf", modelDirectory: "/d", cacheDir: "/c" };
  const key = engineKey(base);
  for (const change of [{ model: "/n.gguf" }, { gpu: "cpu" as const }, { threads: 3 }, { gpuMemoryReserveMiB: 512 }, { serverUrl: "http://s" }, { serverApiKey: "k" }]) {
    assert.notEqual(engineKey({ ...base, ...change }), key, JSON.stringify(change));
  }
  for (const change of [{ segmentTokens: 512 }, { marginTokens: 9 }, { classify: "off" as const }, { include: ["x"] }, { cacheSizeMiB: 0 }, { cacheDir: "/e" }]) {
    assert.equal(engineKey({ ...base, ...change }), key, JSON.stringify(change));
  }
});

test("a repository's settings cannot point the model or the server elsewhere, nor widen what is read when it is untrusted", () => {
  const pkg = JSON.parse(readFileSync("package.json", "utf8"));
  const props = pkg.contributes.configuration.properties as Record<string, { scope?: string }>;
  // Machine scope: only the user's own settings; a workspace's .vscode/settings.json is ignored for these.
  for (const name of ["model", "serverUrl", "serverKind", "serverModel"]) assert.equal(props[`askCodebase.${name}`]?.scope, "machine", name);
  const untrusted = pkg.capabilities?.untrustedWorkspaces;
  assert.equal(untrusted?.supported, "limited");
  for (const name of ["respectGitignore", "gpu", "threads", "cacheSizeMiB"]) assert.ok(untrusted.restrictedConfigurations.includes(`askCodebase.${name}`), name);
  for (const name of untrusted.restrictedConfigurations) assert.ok(props[name], `${name} is a setting`);
  assert.equal(pkg.capabilities?.virtualWorkspaces?.supported, false);
});

test("the commands that act on a run are offered only while there is one to act on", () => {
  const pkg = JSON.parse(readFileSync("package.json", "utf8"));
  const palette = new Map((pkg.contributes.menus.commandPalette as { command: string; when: string }[]).map((m) => [m.command, m.when]));
  assert.equal(palette.get("askCodebase.stop"), "askCodebase.running");
  assert.equal(palette.get("askCodebase.answerNow"), "askCodebase.reading");
  assert.equal(palette.get("askCodebase.reanswer"), "askCodebase.canReanswer");
  const keys = readFileSync("src/extension/contextKeys.ts", "utf8");
  for (const when of palette.values()) assert.ok(keys.includes(`"${when}"`), `${when} is set by the extension`);
});
