// Every generated token crosses threads twice in node-llama-cpp 3.21.1: decodeBatch and
// sampleToken are each an addon worker on libuv's pool, and each one's result comes back to the
// main thread through libuv's wake-up of an event loop that was asleep in epoll. On a GPU the
// thread has nothing else to do while the GPU works, so it sleeps, and waking it costs time: on
// the H200 machine, a VM with no idle driver (cpuidle "none"), where a sleeping CPU halts until the
// host wakes it, 0.06-0.09 ms of a 1.4 ms CUDA token (README, bench/runs/h200-awake-loop.txt). A
// chain of setImmediate callbacks keeps the loop polling (libuv then waits for I/O with a zero
// timeout), so the result is picked up at once.
//
// Not on the CPU backend, nor with layers left on the CPU: there the loop would take a core from
// ggml's own threads. The chain ends by itself when no token has come for IDLE_MS, so a
// generation that stops, fails or is dropped half-way never leaves a core spinning.
// ASK_CODEBASE_AWAKE_LOOP=off|on overrides the choice.
import { wantedWithWholeModelOnGpu } from "./gpuOnly";

/** How long after the last token the loop keeps polling: far above a GPU token, far below a pause. */
export const IDLE_MS = 50;

/** Whether to keep the loop awake while tokens are generated: only with the whole model on a GPU. */
export function awakeLoopWanted(env: NodeJS.ProcessEnv, backend: string, gpuLayers: number, totalLayers: number): boolean {
  return wantedWithWholeModelOnGpu(env.ASK_CODEBASE_AWAKE_LOOP, backend, gpuLayers, totalLayers);
}

export class AwakeLoop {
  private last = 0;
  private pending?: NodeJS.Immediate;
  /** setImmediate callbacks run, for tests and benchmarks. */
  turns = 0;

  constructor(private readonly now: () => number = () => performance.now()) {}

  get awake(): boolean {
    return this.pending !== undefined;
  }

  /** A token came (or is about to be asked for): poll until IDLE_MS pass without another. */
  touch(): void {
    this.last = this.now();
    this.pending ??= setImmediate(this.turn);
  }

  /** Stops polling now (the engine is disposed) rather than IDLE_MS later. */
  stop(): void {
    if (this.pending) clearImmediate(this.pending);
    this.pending = undefined;
  }

  private readonly turn = (): void => {
    this.turns++;
    this.pending = this.now() - this.last > IDLE_MS ? undefined : setImmediate(this.turn);
  };
}
