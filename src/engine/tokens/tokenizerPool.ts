// Measures (tokenizes) files in child processes, for vocabularies that allow no piece counter
// (pieceCounter.ts): tokenizing whole chunks is then the dearest part of planning a large codebase
// (~3 MB/s per core here), and files are independent of each other.
// Processes, not worker threads: llama.cpp keeps process-wide state (its log callback among it),
// and a worker thread that loaded it and then exited left that state pointing at a dead thread:
// the next log line aborted the whole process (seen here about one run in eight).
import { fork, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { FileLines, pieceHeader, type MeasuredFile } from "../../core/pack/packer";
import type { SkippedFile, WorkspaceFile } from "../../core/workspace/reader";
import { machineThreads } from "../llama/runtime";


type FileInput = Pick<WorkspaceFile, "path" | "text" | "bytes" | "excerpt">;

export interface MeasureRequest { id: number; modelPath: string; budget: number; files: FileInput[]; keepTokens?: boolean }
/** A piece without its text: first line, header tokens, then each block's line count and tokens (and their ids when kept). */
export interface PieceShape { startLine: number; headerTokens: number; blockLines: number[]; blockTokens: number[]; headerIds?: Int32Array; blockIds?: Int32Array[] }
export type MeasuredShape = { skipped: SkippedFile } | { lines: number; pieces: PieceShape[] };
export type MeasureReply = { id: number; results: MeasuredShape[] } | { id: number; error: string };

export function shapeOf(m: MeasuredFile): MeasuredShape {
  if ("skipped" in m) return { skipped: m.skipped };
  return {
    lines: m.lines,
    pieces: m.pieces.map((p) => ({
      startLine: p.startLine, headerTokens: p.headerTokens, blockLines: p.blocks.map((b) => b.lines), blockTokens: p.blocks.map((b) => b.tokens),
      ...(p.headerIds ? { headerIds: p.headerIds, blockIds: p.blocks.map((b) => b.ids!) } : {}),
    })),
  };
}

const BATCH_CHARS = 256 * 1024;

function startWorker(): ChildProcess {
  // Bundled: dist/tokenizerWorker.js beside this bundle. From source (tests, tsx): the .ts file.
  const js = join(__dirname, "tokenizerWorker.js");
  const entry = existsSync(js) ? js : join(__dirname, "tokenizerWorker.ts");
  // "advanced" serialization sends file text as structured clones rather than JSON.
  return fork(entry, [], {
    serialization: "advanced",
    stdio: ["ignore", "ignore", "inherit", "ipc"],
    execArgv: entry.endsWith(".ts") ? ["--import", "tsx"] : [],
  });
}

/** Send errors that mean the helper is gone: its exit event follows and names the cause. */
const CHANNEL_GONE = new Set(["ERR_IPC_CHANNEL_CLOSED", "EPIPE", "ECONNRESET"]);

/**
 * Child processes, each with its own vocab-only copy of the model. They start loading at once:
 * node-llama-cpp tests its native binary in a subprocess before loading it (~1 s here), which
 * then overlaps with reading the workspace.
 */
export class TokenizerPool {
  private readonly workers: ChildProcess[];
  /** A helper's error while no measure listened (other than its channel closing: its exit says that). */
  private readonly idleErrors = new Map<ChildProcess, Error>();
  private nextId = 0;
  /** Characters sent to be measured, for planning's statistics. */
  tokenizedChars = 0;

  constructor(private readonly modelPath: string, threads = machineThreads()) {
    this.workers = Array.from({ length: Math.max(1, threads) }, () => {
      const w = startWorker();
      // Listened to from the start: a helper killed before this first send is written (or while the
      // pool waits for files) makes the send fail with EPIPE, and an error nobody listens to would
      // end the whole process. measure() reports the death, by the exit that follows.
      w.on("error", (err: NodeJS.ErrnoException) => {
        if (!CHANNEL_GONE.has(err.code ?? "")) this.idleErrors.set(w, err);
      });
      w.send({ id: -1, modelPath, budget: 0, files: [] } satisfies MeasureRequest);
      return w;
    });
  }

  async measure(files: readonly FileInput[], budget: number, keepTokens = false): Promise<MeasuredFile[]> {
    for (const f of files) this.tokenizedChars += f.text.length;
    const batches: { start: number; files: FileInput[] }[] = [];
    let batch: FileInput[] = [];
    let chars = 0;
    files.forEach((f, i) => {
      if (batch.length && chars + f.text.length > BATCH_CHARS) {
        batches.push({ start: i - batch.length, files: batch });
        batch = [];
        chars = 0;
      }
      batch.push({ path: f.path, text: f.text, bytes: f.bytes });
      chars += f.text.length;
    });
    if (batch.length) batches.push({ start: files.length - batch.length, files: batch });

    const out = new Array<MeasuredFile>(files.length);
    let next = 0;
    const base = this.nextId;
    this.nextId += batches.length;
    await Promise.all(this.workers.map((worker) => new Promise<void>((resolve, reject) => {
      const cleanup = (): void => {
        worker.off("message", onMessage);
        worker.off("error", onError);
        worker.off("exit", onExit);
      };
      const send = (): void => {
        if (next >= batches.length) { cleanup(); return resolve(); }
        const i = next++;
        worker.send({ id: base + i, modelPath: this.modelPath, budget, files: batches[i]!.files, keepTokens } satisfies MeasureRequest);
      };
      const onMessage = (reply: MeasureReply): void => {
        if (reply.id === -1) return;
        if ("error" in reply) { cleanup(); return reject(new Error(reply.error)); }
        const b = batches[reply.id - base]!;
        reply.results.forEach((r, j) => { out[b.start + j] = rebuild(b.files[j]!, r); });
        send();
      };
      const died = (): Error => new Error(`a tokenizer process exited (${worker.signalCode ?? worker.exitCode})`);
      // Sending to a helper that has just died fails first (the channel closed, or the write hit
      // the dead end of the pipe: EPIPE, ECONNRESET); its exit, which says how it died, follows,
      // unless it came before anyone listened.
      const onError = (err: Error): void => {
        if (CHANNEL_GONE.has((err as NodeJS.ErrnoException).code ?? "") && worker.exitCode === null && worker.signalCode === null) return;
        cleanup();
        reject(worker.exitCode !== null || worker.signalCode !== null ? died() : err);
      };
      const onExit = (code: number | null, signal: string | null): void => { cleanup(); reject(new Error(`a tokenizer process exited (${signal ?? code})`)); };
      if (worker.exitCode !== null || worker.signalCode !== null) return reject(died());
      const idle = this.idleErrors.get(worker);
      if (idle) return reject(idle);
      worker.on("message", onMessage);
      worker.on("error", onError);
      worker.on("exit", onExit);
      send();
    })));
    return out;
  }

  async dispose(): Promise<void> {
    await Promise.all(this.workers.map((w) => new Promise<void>((resolve) => {
      if (w.exitCode !== null || w.signalCode !== null) return resolve();
      w.once("exit", () => resolve());
      w.kill();
    })));
  }
}

/** Workers send line ranges and counts, not text: the pieces' text is cut again here, cheaply. */
function rebuild(file: FileInput, r: MeasuredShape): MeasuredFile {
  if ("skipped" in r) return { path: file.path, skipped: r.skipped };
  const lines = new FileLines(file.text);
  return {
    path: file.path,
    lines: r.lines,
    bytes: file.bytes,
    pieces: r.pieces.map((p) => {
      let at = Math.max(0, p.startLine - 1);
      const blocks = p.blockLines.map((n, i) => {
        const text = lines.slice(at, at + n);
        at += n;
        return { text, lines: n, tokens: p.blockTokens[i]!, ...(p.blockIds ? { ids: p.blockIds[i]! } : {}) };
      });
      const endLine = lines.count ? at : 0;
      return {
        path: file.path,
        startLine: p.startLine,
        endLine,
        header: pieceHeader(file.path, p.startLine, endLine, lines.count),
        headerTokens: p.headerTokens,
        ...(p.headerIds ? { headerIds: p.headerIds } : {}),
        blocks,
        tokens: p.headerTokens + p.blockTokens.reduce((a, b) => a + b, 0),
      };
    }),
  };
}
