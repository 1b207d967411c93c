// Runs through the engine's process as a host does: plan, then run the plan by its id.
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { EngineClient } from "../../src/client/engineClient";
import type { WimEvent } from "../../src/core/wim/events";
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

/**
 * One question about `root` in a fresh engine process (the built dist/engineHost.js, with the addon
 * shim preloaded where it is built, as the extension starts it) whose environment is this one's
 * with `env` over it: every event up to the run's end, what it wrote on stderr, and its pid.
 */
export async function questionInEngineProcess(root: string, question: string, settings: RunSettings, env: NodeJS.ProcessEnv): Promise<{ events: WimEvent[]; stderr: string; pid: number }> {
  const events: WimEvent[] = [];
  let stderr = "";
  const client = new EngineClient({
    script: resolve("dist/engineHost.js"),
    env: { ...process.env, ...env },
    onEvent: (e) => events.push(e),
    onStderr: (t) => { stderr += t; },
  });
  try {
    await ask(client, "run", [root], question, settings);
    const end = Date.now() + 120_000;
    while (!events.some((e) => e.type === "done" || e.type === "error")) {
      if (Date.now() > end) throw new Error("the run did not end");
      await sleep(20);
    }
    return { events, stderr, pid: client.pid ?? 0 };
  } finally {
    await client.dispose();
  }
}

/** Every margin, every verdict's score and the answer of a run's events. */
export const written = (events: WimEvent[]): string[] => events.flatMap((e) =>
  e.type === "margin-done" ? [`margin ${e.segment}: ${e.text}`] : e.type === "margin-classified" ? [`verdict ${e.segment}: ${e.score}`] : e.type === "done" ? [`answer: ${e.answer}`] : []);
