// The context keys that say what the commands can act on, so that Stop, Answer Now and Re-answer
// are offered (palette, keybindings) only when there is something for them to do.
import * as vscode from "vscode";
import type { RunRecord, RunStore } from "./runStore";

export const CONTEXT_KEYS = { running: "askCodebase.running", reading: "askCodebase.reading", canReanswer: "askCodebase.canReanswer" } as const;

export function trackContextKeys(store: RunStore): vscode.Disposable {
  const last: Record<string, boolean> = {};
  const set = (key: string, value: boolean): void => {
    if (last[key] === value) return;
    last[key] = value;
    void vscode.commands.executeCommand("setContext", key, value);
  };
  const update = (run: RunRecord | undefined): void => {
    set(CONTEXT_KEYS.running, !!run && run.phase !== "ended");
    set(CONTEXT_KEYS.reading, run?.phase === "reading");
    // After an answer, when the kept margins differ from those it used.
    set(CONTEXT_KEYS.canReanswer, !!run && run.phase === "ended" && run.stale && run.events.some((e) => e.type === "done" && !!e.answer));
  };
  update(store.current);
  return store.subscribe((change) => update(change.run));
}
