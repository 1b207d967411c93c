// Runs through the engine's process as a host does: plan, then run the plan by its id.
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { EngineClient } from "../../src/client/engineClient";
import type { PlanSummary } from "../../src/shared/engineProtocol";
import { defaultSettings, type RunSettings } from "../../src/shared/settings";

/** The defaults, on the CPU with one thread and no warm cache, over `overrides`. */
export function runSettings(overrides: Partial<RunSettings> = {}): RunSettings {
  const { confirmAboveTokens: _, ...defaults } = defaultSettings();
  return { ...defaults, gpu: "cpu", threads: 1, cacheSizeMiB: 0, modelDirectory: join(tmpdir(), "ask-codebase-test-models"), cacheDir: "", ...overrides };
}

/** Plans and runs `question`; resolves once the run has started, with the plan it ran. */
export async function ask(client: EngineClient, runId: string, roots: string[], question: string, settings: RunSettings): Promise<PlanSummary> {
  const summary = await client.plan(roots, question, settings);
  await client.run(runId, summary.planId);
  return summary;
}
