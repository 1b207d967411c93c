// A warm question's margins, written on forks of the reader. The reader holds the codebase from the
// cache; margin k needs segments 0..k and nothing after them. On the reader that means erasing from
// the end, a margin at a time from the last, and loading the whole state again afterwards. Instead
// a fork takes the reader's first ends[k] tokens by sharing their cache cells
// (EngineSequence.shareFrom: nothing is evaluated or copied) and writes margin k there, exactly as
// on the reader: the extractive prompt after the same tokens, the verdict, greedy decoding. Several
// forks write side by side, their tokens in one batch, and the reader keeps the codebase whole.
//
// Not while reading: a fork's token in each of the reader's batches makes every batch wait for its
// sample, which llama.cpp's per-batch preparation on the CPU (its attention mask grows with the
// depth) cannot then overlap with the GPU. On the H200 that made WiM with the fused verdict 1.8-2.2x
// its time on the reader (bench/runs/h200-forks-cold.txt), and the CPU lost too. Nor by default for a
// warm question: they won nothing there on CUDA or the CPU, and Vulkan died of them
// (shared/addonShim.ts, forksWanted, has the figures); ASK_CODEBASE_FORKS=on asks for them.
//
// Margins go to the forks in turn, each fork one margin at a time; their events are queued and
// yielded as they come (finish), so the view streams them as before.
import type { SourcePiece } from "../pack/packer";
import type { EngineInfo, EngineSequence, TokenList } from "./engine";
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

  /** Yields the events of every margin started as they come, until all are done; throws the first failure. */
  async *finish(): AsyncGenerator<WimEvent> {
    let done = false;
    // The chains never reject: a failure is kept, and thrown once every chain has stopped.
    void Promise.all(this.chains).then(() => {
      done = true;
      this.push();
    });
    for (;;) {
      while (this.queue.length) yield this.queue.shift()!;
      if (done) break;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
    if (this.failure) throw this.failure.error;
    await this.release();
  }

  /** Waits for every margin started, errors ignored, and empties the forks: before the sequences are reused. */
  async settle(): Promise<void> {
    await Promise.all(this.chains);
    await this.release();
  }

  /**
   * Empties the forks. A cell stays taken while any sequence holds it: forks left holding the
   * codebase would keep the reader from freeing its end when the answer makes room.
   */
  async release(): Promise<void> {
    for (const { fork } of this.o.writers) await fork.truncate(0);
  }

  private push(...events: WimEvent[]): void {
    this.queue.push(...events);
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }
}

/** Forks a run gets unless it asks: margins four at a time. */
export const DEFAULT_FORKS = 4;

/**
 * How many forks a run writes a warm question's margins on: none where the engine cannot share
 * cells, where no warm cache can serve it, or where a separate classifier judges the margins (it
 * takes the second sequence, and judges margins written on the reader).
 */
export function forksFor(info: EngineInfo, mode: ClassifyMode, warm: boolean, asked?: number): number {
  if (!info.sharesCells || mode === "separate" || !warm) return 0;
  return Math.max(0, Math.floor(asked ?? DEFAULT_FORKS));
}
