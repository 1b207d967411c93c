// A model given as a path, an `hf:` URI or a URL. URIs go through node-llama-cpp's resolver, which
// downloads into `directory` once and reuses the file after. What that resolver leaves to its
// caller is done here, because each was seen against a local hub (test/engine/download.test.ts):
// - it saves whatever the server sent under the model's name (a sign-in page, a file cut short at
//   the origin) and returns that file on every later call: so the file is checked before it is
//   used, and a bad one is removed, as it is ours, with the reason;
// - its downloader (ipull 3.9.5) has no timeout and retries a dropped connection from the first
//   byte forever: so a watchdog ends a download that has not gone past its furthest byte for a while;
// - its errors name a URL or an errno: here they say what happened and what the user can do.
import { unlink } from "node:fs/promises";
import { freeBytes } from "../../core/freeSpace";
import { isAbsolute, relative, resolve } from "node:path";
import { defaultModelDirectory } from "../../shared/modelCatalog";
import { isRemoteModel } from "../../shared/settings";
import { nodeLlamaCpp } from "../llama/runtime";
import { checkModelFile, ModelFileError, readHead } from "./modelFile";
import { formatBytes } from "../../core/bytes";

export const DEFAULT_ENDPOINT = "https://huggingface.co/";

/** A download that did not give a model: the endpoint it came from is part of what the user can change. */
export class DownloadError extends ModelFileError {
  override name = "DownloadError";
}

export interface ResolveOptions {
  directory?: string;
  /** The hub or mirror for `hf:` models; empty: $MODEL_ENDPOINT, $HF_ENDPOINT, else huggingface.co. */
  endpoint?: string;
  signal?: AbortSignal;
  onProgress?: (downloaded: number, total: number) => void;
  /** How long a download may go without a new byte before it is given up (default 60 s; $ASK_CODEBASE_DOWNLOAD_STALL_S). */
  stallMs?: number;
}

/** The endpoint `hf:` models come from, as node-llama-cpp would choose it, with the setting first. */
export function modelEndpoint(setting = ""): string {
  const pick = [setting, process.env.MODEL_ENDPOINT, process.env.HF_ENDPOINT].map((v) => v?.trim()).find((v) => v && /^https?:\/\//i.test(v)) ?? DEFAULT_ENDPOINT;
  return pick.endsWith("/") ? pick : `${pick}/`;
}

function stallLimitMs(options: ResolveOptions): number {
  if (options.stallMs !== undefined) return options.stallMs;
  const env = Number(process.env.ASK_CODEBASE_DOWNLOAD_STALL_S);
  return Number.isFinite(env) && env > 0 ? env * 1000 : 60_000;
}

export async function resolveModel(spec: string, options: ResolveOptions = {}): Promise<string> {
  if (!isRemoteModel(spec)) return resolve(spec);
  const directory = options.directory ?? defaultModelDirectory();
  const endpoint = modelEndpoint(options.endpoint);
  const { resolveModelFile } = await nodeLlamaCpp();

  // The watchdog and the free-space check end the download through this controller, saying why.
  const inner = new AbortController();
  let ended: DownloadError | undefined;
  const end = (err: DownloadError): void => {
    ended ??= err;
    inner.abort(err);
  };
  const onOuterAbort = (): void => inner.abort(options.signal!.reason);
  options.signal?.addEventListener("abort", onOuterAbort, { once: true });
  if (options.signal?.aborted) onOuterAbort();

  const stallMs = stallLimitMs(options);
  let furthest = 0;
  let total = 0;
  let roomChecked = false;
  let lastGain = Date.now();
  const watchdog = setInterval(() => {
    if (Date.now() - lastGain < stallMs) return;
    const where = total ? `at ${formatBytes(furthest)} of ${formatBytes(total)}` : "before it began";
    end(new DownloadError(`the download of ${spec} from ${endpoint} stopped ${where}: nothing new for ${Math.round(stallMs / 1000)} s (the server stalls, or the connection keeps dropping). Ask again to retry, or choose a GGUF file on disk.`));
  }, Math.min(1000, Math.max(50, stallMs / 4)));
  watchdog.unref?.();

  const progress = ({ downloadedSize, totalSize }: { downloadedSize: number; totalSize: number }): void => {
    total = totalSize;
    if (downloadedSize > furthest) {
      furthest = downloadedSize;
      lastGain = Date.now();
    }
    options.onProgress?.(downloadedSize, totalSize);
    if (!roomChecked && totalSize > 0) {
      roomChecked = true;
      void freeBytes(directory).then((free) => {
        if (free !== undefined && free < totalSize - downloadedSize) end(noRoom(spec, directory, totalSize, free));
      });
    }
  };

  let path: string;
  try {
    path = await resolveModelFile(spec, {
      directory,
      download: "auto",
      cli: false,
      endpoints: { huggingFace: endpoint },
      signal: inner.signal,
      onProgress: progress,
    });
  } catch (err) {
    if (options.signal?.aborted) throw options.signal.reason ?? err;
    if (ended) throw ended;
    throw explain(err as Error, spec, endpoint, directory, total);
  } finally {
    clearInterval(watchdog);
    options.signal?.removeEventListener("abort", onOuterAbort);
  }
  // Ended by the user, the watchdog or the disk: ipull may still hand back its file as if whole.
  const broken = await dropIfBroken(path, directory);
  if (options.signal?.aborted || ended) throw options.signal?.aborted ? options.signal.reason : ended;
  if (broken) throw notAModel(broken, path, spec, endpoint);
  return path;
}

/** Whether `path` lies inside `directory`: only files there are ours to remove. */
function inside(path: string, directory: string): boolean {
  const rel = relative(resolve(directory), resolve(path));
  return !rel.startsWith("..") && !isAbsolute(rel);
}

/** Why a downloaded file is not a whole model: the check's error, the file's first bytes, and whether it was removed. */
interface Broken { problem: ModelFileError; head: string; removed: boolean }

/**
 * A downloaded file is used only once it is a whole GGUF (ipull may hand back a cancelled one as
 * if whole, too): anything else in the model folder came from a server, and is ours to remove, so
 * the next attempt downloads again instead of failing the same way.
 */
async function dropIfBroken(path: string, directory: string): Promise<Broken | undefined> {
  try {
    await checkModelFile(path);
    return undefined;
  } catch (err) {
    if (!(err instanceof ModelFileError)) throw err;
    const head = (await readHead(path, 512).catch(() => Buffer.alloc(0))).toString("latin1");
    const removed = inside(path, directory) && (await unlink(path).then(() => true, () => false));
    return { problem: err, head, removed };
  }
}

function notAModel({ problem, head, removed }: Broken, path: string, spec: string, endpoint: string): DownloadError {
  const what = /<(!doctype|html|head|body)/i.test(head)
    ? "a web page, not a model (a sign-in page, a proxy or a mirror that does not serve this file)"
    : head.startsWith("GGUF") ? `a model file that is cut short or damaged (${problem.message.replace(`: ${path}`, "")})` : "something that is not a GGUF model";
  return new DownloadError(`the download of ${spec} from ${endpoint} gave ${what}; ${removed ? "it was removed" : `it is at ${path}`}. Check the endpoint, or choose a GGUF file on disk.`);
}

function noRoom(spec: string, directory: string, total: number, free: number): DownloadError {
  return new DownloadError(`no room for ${spec}: it needs ${formatBytes(total)} and ${directory} has ${formatBytes(free)} free. Free some space, or choose a GGUF file on disk.`);
}

/** The resolver's and the network's errors, in words a user can act on. */
function explain(err: Error, spec: string, endpoint: string, directory: string, total: number): DownloadError {
  const text = `${err.message} ${String((err as { cause?: unknown }).cause ?? "")}`;
  if (/ENOSPC/.test(text)) return noRoom(spec, directory, total, 0);
  if (/Cannot get quantization|does not exist|\b404\b|Entry not found/i.test(text)) {
    return new DownloadError(`${endpoint} has no model ${spec}: check its name and quantization${endpoint === DEFAULT_ENDPOINT ? "" : ", and that the mirror carries it"}.`);
  }
  if (/fetch failed|ECONNREFUSED|ENOTFOUND|EAI_AGAIN|ECONNRESET|ETIMEDOUT|EHOSTUNREACH|ENETUNREACH|certificate/i.test(text)) {
    return new DownloadError(`cannot reach ${endpoint} to download ${spec} (offline, or the hub is blocked here). Set a mirror in askCodebase.modelEndpoint (--model-endpoint, or $HF_ENDPOINT), or choose a GGUF file on disk (--model FILE).`);
  }
  if (/EACCES|EPERM|EROFS/.test(text)) return new DownloadError(`cannot write the model into ${directory}: ${err.message}`);
  return new DownloadError(`cannot get model ${spec} from ${endpoint}: ${err.message}`);
}
