// Test models, written once per machine into a cache folder (the weights are seeded, so a file
// with the same name always holds the same model).
import { existsSync, mkdirSync, renameSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HOSTILE_OUTPUT } from "./hostile";
import { writeTestModel, type ShapeName } from "./testModel";

const VERSION = 1;

export function testModelPath(shape: ShapeName = "tiny", options: { chatTemplate?: null; seed?: number; byteTokens?: "control"; hostile?: true } = {}): string {
  const dir = process.env.ASK_CODEBASE_MODEL_CACHE ?? join(tmpdir(), "ask-codebase-test-models");
  mkdirSync(dir, { recursive: true });
  const name = `${shape}-s${options.seed ?? 1234}${options.chatTemplate === null ? "-notemplate" : ""}${options.byteTokens === "control" ? "-controlbytes" : ""}${options.hostile ? "-hostile" : ""}-v${VERSION}.gguf`;
  const path = join(dir, name);
  if (!existsSync(path)) {
    const partial = `${path}.${process.pid}.partial`;
    writeTestModel(partial, { shape, seed: options.seed ?? 1234, ...(options.chatTemplate === null ? { chatTemplate: null } : {}), ...(options.byteTokens === "control" ? { byteTokens: "control" as const } : {}), ...(options.hostile ? { script: HOSTILE_OUTPUT } : {}) });
    renameSync(partial, path);
  }
  return path;
}
