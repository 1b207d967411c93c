// Which backend runs the model. "auto" tries CUDA, then Vulkan (then Metal on a Mac), then the
// CPU; an explicit GPU falls back the same way when it fails. Each GPU backend is first tried in
// a throwaway process (gpuProbe), since a failing one can abort natively rather than throw. The
// verdicts are remembered per machine and node-llama-cpp version, so the probing costs once.
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { homedir, hostname } from "node:os";
import { dirname, join } from "node:path";
import type { GpuChoice } from "../../shared/settings";

/** `unavailable`: this machine has no such GPU or build (not a failure, and no news under "auto"). */
export interface BackendVerdict { ok: boolean; unavailable?: boolean; reason?: string; at: string }
export interface BackendChoice { backend: GpuChoice; note?: string }

const ORDER: readonly GpuChoice[] = process.platform === "darwin" ? ["metal", "cpu"] : ["cuda", "vulkan", "cpu"];

function probeScript(): { script: string; execArgv: string[] } {
  const js = join(__dirname, "gpuProbe.js");
  return existsSync(js) ? { script: js, execArgv: [] } : { script: join(__dirname, "gpuProbe.ts"), execArgv: ["--import", "tsx"] };
}

/** How a probe process ended: the JSON line it printed last (if any), its exit, and its stderr's end. */
interface ProbeExit { result?: Record<string, unknown>; code: number | null; signal: NodeJS.Signals | null; stderr: string }

/** Runs gpuProbe with `args` in a process of its own, killed after `timeoutMs`; never throws. */
function runProbe(args: string[], timeoutMs: number): Promise<ProbeExit> {
  const { script, execArgv } = probeScript();
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...execArgv, script, ...args], { stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => (out += d));
    child.stderr.on("data", (d: Buffer) => (err = (err + d).slice(-20000)));
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      let result: Record<string, unknown> | undefined;
      try {
        result = JSON.parse(out.trim().split("\n").pop() ?? "") as Record<string, unknown>;
      } catch {
        // No line printed: the process died first.
      }
      resolve({ ...(result ? { result } : {}), code, signal, stderr: err });
    });
  });
}

/** The GPU this machine offers the engine, if any, asked of a process of its own; undefined when none answers in time. */
export async function describeGpu(timeoutMs = 30_000): Promise<{ backend: string; name: string; vramBytes: number } | undefined> {
  const { result } = await runProbe(["describe"], timeoutMs);
  const gpu = result?.ok ? (result.gpu as { backend: string; name: string; vramBytes: number } | null) : undefined;
  return gpu && gpu.vramBytes > 0 ? gpu : undefined;
}

/** Tries one backend in its own process; resolves with the verdict, never throws. */
export async function probeBackend(backend: GpuChoice, modelPath: string, timeoutMs = 180_000): Promise<BackendVerdict> {
  const { result, code, signal, stderr } = await runProbe([backend, modelPath], timeoutMs);
  const at = new Date().toISOString();
  if (result?.ok && code === 0) return { ok: true, at };
  if (typeof result?.error === "string") return { ok: false, unavailable: result.unavailable === true || /not available|NoBinaryFound|not compatible|no .*binary/i.test(result.error), reason: result.error, at };
  // No verdict printed: the process died first. The line that names the error (CUDA's is several
  // lines above the stack trace), else the last one.
  const lines = stderr.trim().split("\n").map((l) => l.replace(/^\[node-llama-cpp\]\s*/, "").trim()).filter(Boolean);
  const telling = lines.find((l) => /\berror\b/i.test(l)) ?? lines.at(-1);
  return { ok: false, reason: `the ${backend} build crashed (${signal ?? `exit code ${code}`})${telling ? `: ${telling.slice(0, 300)}` : ""}`, at };
}

export function defaultBackendMemory(): BackendMemory {
  return new BackendMemory(join(process.env.XDG_CACHE_HOME || join(homedir(), ".cache"), "ask-codebase", "backends.json"));
}

/** Bumped when the probe judges differently, so that verdicts it would now give otherwise are made again (2: software renderers are no GPU). */
const PROBE_VERSION = 2;

export class BackendMemory {
  constructor(readonly file: string, private readonly key = `${hostname()}|node-llama-cpp ${nodeLlamaCppVersion()}|probe ${PROBE_VERSION}`) {}

  private read(): Record<string, Record<string, BackendVerdict>> {
    try {
      return JSON.parse(readFileSync(this.file, "utf8"));
    } catch {
      return {};
    }
  }

  get(backend: GpuChoice): BackendVerdict | undefined {
    return this.read()[this.key]?.[backend];
  }

  /** Drops a verdict, so that the backend is probed again (after it was built here, say). */
  forget(backend: GpuChoice): void {
    const all = this.read();
    if (!all[this.key]?.[backend]) return;
    delete all[this.key]![backend];
    writeFileSync(this.file, JSON.stringify(all, null, 1));
  }

  set(backend: GpuChoice, verdict: BackendVerdict): void {
    const all = this.read();
    all[this.key] = { ...all[this.key], [backend]: verdict };
    mkdirSync(dirname(this.file), { recursive: true });
    writeFileSync(this.file, JSON.stringify(all, null, 1));
  }

  /**
   * Marks `backend` as running a question in this process until the returned function is called.
   * A GPU fault kills the process natively, before anything could be written: the mark it leaves
   * behind is how the next process learns the backend failed (see recoverCrashes).
   */
  running(backend: GpuChoice): () => void {
    if (backend === "cpu") return () => undefined;
    const mark = join(dirname(this.file), `running-${process.pid}.json`);
    mkdirSync(dirname(mark), { recursive: true });
    writeFileSync(mark, JSON.stringify({ backend }));
    // An orderly exit (the host went away) is not a crash.
    const clear = (): void => rmSync(mark, { force: true });
    process.once("exit", clear);
    return () => {
      process.off("exit", clear);
      clear();
    };
  }

  /** Backends whose process died mid-run since the last look: remembered as failed, and returned. */
  recoverCrashes(): GpuChoice[] {
    const found: GpuChoice[] = [];
    let names: string[];
    try {
      names = readdirSync(dirname(this.file)).filter((n) => /^running-\d+\.json$/.test(n));
    } catch {
      return found;
    }
    for (const name of names) {
      const pid = Number(/\d+/.exec(name)![0]);
      if (pid === process.pid || alive(pid)) continue;
      const mark = join(dirname(this.file), name);
      try {
        const { backend } = JSON.parse(readFileSync(mark, "utf8")) as { backend: GpuChoice };
        this.set(backend, { ok: false, reason: `the engine process died while running on ${backend}`, at: new Date().toISOString() });
        found.push(backend);
      } catch {
        // A mark half written by a process that died writing it: nothing to learn from.
      }
      rmSync(mark, { force: true });
    }
    return found;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** node-llama-cpp's package folder (the ESM-only package does not export its package.json to require.resolve). */
export function nodeLlamaCppDir(): string {
  for (let dir = __dirname; ; dir = dirname(dir)) {
    const found = join(dir, "node_modules", "node-llama-cpp");
    if (existsSync(join(found, "package.json"))) return found;
    if (dirname(dir) === dir) return join(__dirname, "node_modules", "node-llama-cpp");
  }
}

/** node-llama-cpp's version, read from its package.json. */
export function nodeLlamaCppVersion(): string {
  try {
    return (JSON.parse(readFileSync(join(nodeLlamaCppDir(), "package.json"), "utf8")) as { version: string }).version;
  } catch {
    return "unknown";
  }
}

/**
 * The first backend from `requested` on (in CUDA → Vulkan → CPU order) that works here. `onStatus`
 * hears about probes as they happen; the note says why a backend other than the one asked for runs.
 */
export async function chooseBackend(requested: GpuChoice, modelPath: string, memory: BackendMemory, options: { onStatus?: (text: string) => void; probe?: typeof probeBackend } = {}): Promise<BackendChoice> {
  if (requested === "cpu") return { backend: "cpu" };
  const probe = options.probe ?? probeBackend;
  const start = requested === "auto" ? 0 : Math.max(0, ORDER.indexOf(requested));
  const reasons: string[] = [];
  for (const backend of ORDER.slice(start)) {
    if (backend === "cpu") break;
    let verdict = memory.get(backend);
    if (!verdict) {
      options.onStatus?.(`checking the ${backend} backend (once on this machine)`);
      verdict = await probe(backend, modelPath);
      memory.set(backend, verdict);
    }
    if (verdict.ok) {
      return reasons.length || (requested !== "auto" && requested !== backend) ? { backend, note: `${reasons.join("; ")}; using ${backend}` } : { backend };
    }
    if (!verdict.unavailable || requested !== "auto") reasons.push(`${backend} ${verdict.unavailable ? "is not available" : "failed"} on this machine: ${verdict.reason}`);
  }
  return reasons.length ? { backend: "cpu", note: `${reasons.join("; ")}; using the CPU` } : { backend: "cpu" };
}
