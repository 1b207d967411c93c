// WiM's margins written on forks of the reader while it reads on. After segment k is read, a fork
// takes the reader's first ends[k] tokens by sharing their cache cells (EngineSequence.shareFrom:
// nothing is evaluated again) and writes margin k there, exactly as on the reader: the extractive
// prompt after the same tokens, greedy decoding, the verdict. The reader never stops for it; each
// margin token rides in one of the reader's prefill batches instead of being a decode of its own,
// and the reader's own stop after each segment (the wait for the verdict's logits) goes too. What
// is left of WiM's cost beyond plain reading is the last margins, which have no reading to ride on.
//
// Margins go to the forks in turn, each fork one margin at a time; their events are queued and
// yielded while the reader works (during) and after (finish), so the view streams them as before.
import type { SourcePiece } from "../pack/packer";
import { isAbortError, type EngineInfo, type EngineSequence, type TokenList } from "./engine";
import type { WimEvent } from "./events";
import type { MarginRecord, MarginWriter } from "./marginWriter";
import type { ClassifyMode } from "./verdict";

export interface ForkedMarginsOptions {
  reader: EngineSequence;
  /** Sequences with shareFrom, one writer each (a writer whose reader is that fork). */
  writers: { fork: EngineSequence; writer: MarginWriter }[];
  /** Called with each finished margin, in the order they finish; returns events to stream after it. */
  finished: (record: MarginRecord) => WimEvent[];
}

/** Whether `sequences` (all but the reader) can serve as forks. */
export function canFork(sequences: readonly (EngineSequence | undefined)[]): sequences is EngineSequence[] {
  return sequences.length > 0 && sequences.every((s) => typeof s?.shareFrom === "function");
}

export class ForkedMargins {
  private readonly queue: WimEvent[] = [];
  private wake?: () => void;
  private readonly chains: Promise<void>[];
  private next = 0;
  private failure?: { error: unknown };

  constructor(private readonly o: ForkedMarginsOptions) {
    this.chains = o.writers.map(() => Promise.resolve());
  }

  /** Writes margin `segment` on the next fork once it is free, from the reader's first `end` tokens. */
  start(segment: number, end: number, sources: readonly SourcePiece[], copyFrom?: TokenList): void {
    const i = this.next++ % this.o.writers.length;
    const { fork, writer } = this.o.writers[i]!;
    this.chains[i] = this.chains[i]!.then(async () => {
      if (this.failure) return;
      try {
        await fork.shareFrom!(this.o.reader, end);
        const margin = writer.write(segment, sources, copyFrom);
        for (let step = await margin.next(); ; step = await margin.next()) {
          if (step.done) {
            this.push(...this.o.finished(step.value));
            break;
          }
          this.push(step.value);
        }
      } catch (err) {
        // The first failure is the run's (an abort, or an engine error); later margins are not started.
        this.failure ??= { error: err };
        this.push();
      }
    });
  }

  /** Yields the margins' events while `work` (the reader's) runs; its result, or its error, after. */
  async *during<T>(work: Promise<T>): AsyncGenerator<WimEvent, T> {
    let outcome: { value: T } | { error: unknown } | undefined;
    void work.then((value) => { outcome = { value }; }, (error: unknown) => { outcome = { error }; }).finally(() => this.wake?.());
    for (;;) {
      while (this.queue.length) yield this.queue.shift()!;
      // A margin's engine error ends the run as the reader's would; an abort is the reader's to report.
      if (this.failure && !isAbortError(this.failure.error) && outcome) throw this.failure.error;
      if (outcome) break;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    if ("error" in outcome) throw outcome.error;
    return outcome.value;
  }

  /** Yields the events of every margin started, until all are done; throws the first failure. */
  async *finish(): AsyncGenerator<WimEvent> {
    yield* this.during(Promise.all(this.chains));
    if (this.failure) throw this.failure.error;
  }

  /** Waits for every margin started, errors ignored: before the sequences are reused. */
  async settle(): Promise<void> {
    await Promise.all(this.chains);
  }

  private push(...events: WimEvent[]): void {
    this.queue.push(...events);
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/** Forks a run gets unless it asks: two, so that the margins left when the reading ends go on side by side. */
export const DEFAULT_FORKS = 2;

/**
 * How many forks a run writes its margins on: none where the engine cannot share cells, where a
 * separate classifier takes the second sequence, or where the codebase takes more than one window
 * (a window's end erases the codebase the forks would read).
 */
export function forksFor(info: EngineInfo, mode: ClassifyMode, windows: number, asked?: number): number {
  if (!info.sharesCells || mode === "separate" || windows !== 1) return 0;
  return Math.max(0, Math.floor(asked ?? DEFAULT_FORKS));
}
