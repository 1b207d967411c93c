// The host's record of the current question, from the moment it is asked: the engine's events in
// order, and where the question is (planning, waiting for the user, reading, answering, ended).
// The engine owns the run's state and says it in events (kept-changed, answer-started, done);
// this store only folds them. The Margins view and the status bar observe it. No vscode import.
import type { WimEvent } from "../core/wim/events";
import type { PlanSummary } from "../shared/engineProtocol";
import type { PastRun } from "../shared/webviewProtocol";

/** Earlier questions kept for the view: enough to look back on, never a growing list. */
const HISTORY = 20;

export type RunPhase = "planning" | "confirming" | "reading" | "answering" | "ended";

export interface RunRecord {
  runId: string;
  question: string;
  roots: string[];
  phase: RunPhase;
  /** Every event of the run so far (a re-answer replaces the previous answer's). */
  events: WimEvent[];
  /** The latest line about where the run is (planning progress, the engine's status). */
  status?: string;
  /** From the engine's last kept-changed. */
  kept: number[];
  rejected: number[];
  stale: boolean;
  /** The margin ids the last answer's prompt held. */
  answerMarginIds?: number[];
  /** What planning found (files, tokens, what was skipped or decoded): the plan that runs. */
  plan?: PlanSummary;
}

export type StoreChange =
  | { kind: "run"; run: RunRecord }
  | { kind: "plan"; run: RunRecord }
  | { kind: "event"; run: RunRecord; event: WimEvent }
  | { kind: "status"; run: RunRecord; text: string };

type Listener = (change: StoreChange) => void;

export class RunStore {
  private record?: RunRecord;
  /** Earlier questions of this window, oldest first. */
  readonly history: PastRun[] = [];
  private readonly listeners = new Set<Listener>();
  private readonly ends = new Map<string, ((e: WimEvent) => void)[]>();

  get current(): RunRecord | undefined {
    return this.record;
  }

  subscribe(listener: Listener): { dispose(): void } {
    this.listeners.add(listener);
    return { dispose: () => this.listeners.delete(listener) };
  }

  private tell(change: StoreChange): void {
    for (const l of this.listeners) l(change);
  }

  /** A new question, before anything is read: it replaces the record (a run still going is the caller's to stop). */
  begin(runId: string, question: string, roots: string[]): RunRecord {
    if (this.record) this.keep(this.record);
    this.record = { runId, question, roots, phase: "planning", events: [], kept: [], rejected: [], stale: false };
    this.tell({ kind: "run", run: this.record });
    return this.record;
  }

  /** A run that a new question replaces stays in the history if it got as far as an answer. */
  private keep(run: RunRecord): void {
    const done = [...run.events].reverse().find((e): e is Extract<WimEvent, { type: "done" }> => e.type === "done");
    if (!done?.answer) return;
    this.history.push({ runId: run.runId, question: run.question, answer: done.answer, stoppedBy: done.stoppedBy, coverage: done.coverage });
    this.history.splice(0, Math.max(0, this.history.length - HISTORY));
  }

  /** Where the current run is, in words; ignored for any other run. */
  status(runId: string, text: string): void {
    const run = this.record;
    if (!run || run.runId !== runId) return;
    run.status = text;
    this.tell({ kind: "status", run, text });
  }

  setPlan(runId: string, plan: PlanSummary): void {
    if (this.record?.runId !== runId) return;
    this.record.plan = plan;
    this.tell({ kind: "plan", run: this.record });
  }

  setPhase(runId: string, phase: RunPhase): void {
    const run = this.record;
    if (run?.runId === runId) run.phase = phase;
  }

  /** The roots change when the user narrows the scope before reading. */
  setRoots(runId: string, roots: string[]): void {
    if (this.record?.runId === runId) this.record.roots = roots;
  }

  /** Ends a run that never reached the engine (cancelled while planning, or refused): its last event is made here. */
  endWithout(end: Extract<WimEvent, { type: "done" | "error" }>): void {
    this.apply(end);
  }

  /** A re-answer starts: the previous answer's events leave the record, so a replay shows the new one. */
  reanswering(runId: string): void {
    const run = this.record;
    if (run?.runId !== runId) return;
    run.events = run.events.filter((e) => e.type !== "answer-started" && e.type !== "answer-token" && e.type !== "done");
    run.phase = "answering";
    this.tell({ kind: "run", run });
  }

  apply(event: WimEvent): void {
    const run = this.record;
    if (!run || event.runId !== run.runId) return;
    run.events.push(event);
    switch (event.type) {
      case "run-started":
      case "window-started":
        run.phase = "reading";
        break;
      case "kept-changed":
        run.kept = event.kept;
        run.rejected = event.rejected;
        run.stale = event.stale;
        break;
      case "answer-started":
        run.phase = "answering";
        run.answerMarginIds = event.marginIds;
        break;
      case "done":
      case "error":
        run.phase = "ended";
        break;
      default:
        break;
    }
    this.tell({ kind: "event", run, event });
    if (event.type === "done" || event.type === "error") {
      for (const resolve of this.ends.get(event.runId) ?? []) resolve(event);
      this.ends.delete(event.runId);
    }
  }

  /** Resolves with the run's last event (done or error), at once if it has ended. */
  whenEnded(runId: string): Promise<WimEvent> {
    const end = this.record?.runId === runId ? [...this.record.events].reverse().find((e) => e.type === "done" || e.type === "error") : undefined;
    if (end && this.record?.phase === "ended") return Promise.resolve(end);
    return new Promise((resolve) => this.ends.set(runId, [...(this.ends.get(runId) ?? []), resolve]));
  }
}
