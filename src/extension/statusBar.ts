// The status bar item: idle, it asks; during a run, it shows where the run is and stops it.
import * as vscode from "vscode";
import type { RunStore, StoreChange } from "./runStore";

export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Left, 50);
  private readonly subscription: { dispose(): void };

  constructor(store: RunStore) {
    this.idle();
    this.item.show();
    this.subscription = store.subscribe((change) => this.show(change));
  }

  private show(change: StoreChange): void {
    const run = change.run;
    if (run.phase === "ended") return this.idle();
    this.item.command = "askCodebase.stop";
    this.item.tooltip = "Reading the codebase: click to stop";
    if (run.phase === "planning" || run.phase === "confirming") this.item.text = "$(sync~spin) Ask: planning";
    else if (run.phase === "answering") this.item.text = "$(sync~spin) Ask: answering";
    else if (change.kind === "event" && change.event.type === "segment-progress") this.item.text = `$(sync~spin) Ask: segment ${change.event.segment + 1}/${change.event.segments}`;
    else if (change.kind === "run") this.item.text = "$(sync~spin) Ask: starting";
  }

  private idle(): void {
    this.item.text = "$(comment-discussion) Ask codebase";
    this.item.tooltip = "Ask a question about this codebase";
    this.item.command = "askCodebase.ask";
  }

  dispose(): void {
    this.subscription.dispose();
    this.item.dispose();
  }
}
