// What the idle Margins view says about the model: which is set (a file and its size, or a model
// id fetched on first use), or that none is, and where the last run ran it.
import { statSync } from "node:fs";
import { basename } from "node:path";
import * as vscode from "vscode";
import { downloadSize, MODEL_LADDER } from "../shared/modelCatalog";
import { isRemoteModel } from "../shared/settings";
import type { ModelInfo } from "../shared/webviewProtocol";
import { SECTION } from "./config";
import { suggestionHere } from "./firstModel";
import type { RunStore } from "./runStore";

export function modelInfo(store: RunStore): ModelInfo {
  const spec = vscode.workspace.getConfiguration(SECTION).get<string>("model")?.trim() ?? "";
  if (!spec) {
    const s = suggestionHere();
    return { suggested: { label: s.option.label, size: downloadSize(s.option), why: s.why } };
  }
  const started = store.current?.events.find((e) => e.type === "run-started");
  const where = started?.type === "run-started" ? `${started.backend}${started.gpuNames.length ? ` (${started.gpuNames.join(", ")})` : ""}` : undefined;
  if (isRemoteModel(spec)) return { name: MODEL_LADDER.find((m) => m.spec === spec)?.label ?? spec, remote: true, ...(where ? { where } : {}) };
  let bytes: number | undefined;
  try {
    bytes = statSync(spec).size;
  } catch {
    bytes = undefined;
  }
  return { name: basename(spec), ...(bytes !== undefined ? { bytes } : {}), ...(where ? { where } : {}) };
}
