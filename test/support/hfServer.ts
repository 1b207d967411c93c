// A local stand-in for the Hugging Face hub, speaking the two routes node-llama-cpp's resolver
// uses for an `hf:user/repo:quant` model: the manifest (`/v2/USER/REPO/manifests/TAG`, which names
// the file) and the file (`/USER/REPO/resolve/main/FILE`, with HEAD and byte ranges). Tests point
// the engine at it through the endpoint setting or HF_ENDPOINT and serve a test GGUF under a real
// model's names, then make it fail the ways real servers and networks do.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export type ServeMode =
  /** The file, whole. */
  | "ok"
  /** 404 for the manifest and the file. */
  | "missing"
  /** A login or error page with status 200, as captive portals and some mirrors send. */
  | "html"
  /** The file's headers say its full size, then the connection drops halfway, every time. */
  | "drop"
  /** The origin holds a file cut short: the sizes agree, the GGUF does not. */
  | "short"
  /** Headers and the first bytes, then nothing more. */
  | "stall";

export interface HfFile {
  user: string;
  repo: string;
  /** The quantization tag the manifest answers for (`Q8_0`). */
  tag: string;
  /** The file name on the hub. */
  file: string;
  body: Buffer;
}

export interface HfServer {
  url: string;
  mode: ServeMode;
  /** Bytes a second for file bodies (0: unthrottled), so a test can see progress and cancel. */
  bytesPerSecond: number;
  /** Each file request: its method and Range header. */
  readonly requests: { method: string; path: string; range?: string }[];
  close(): Promise<void>;
}

const HTML = Buffer.from("<!doctype html><html><head><title>Sign in</title></head><body><p>Please sign in to continue.</p></body></html>\n".repeat(20));

export async function startHfServer(files: readonly HfFile[]): Promise<HfServer> {
  const open = new Set<ServerResponse>();
  const state: HfServer = {
    url: "",
    mode: "ok",
    bytesPerSecond: 0,
    requests: [],
    close: () => new Promise<void>((resolve) => {
      for (const res of open) res.destroy();
      server.close(() => resolve());
    }),
  };

  const serve = (req: IncomingMessage, res: ServerResponse): void => {
    open.add(res);
    res.on("close", () => open.delete(res));
    const url = new URL(req.url ?? "/", "http://x");
    const manifest = /^\/v2\/([^/]+)\/([^/]+)\/manifests\/([^/]+)$/.exec(url.pathname);
    const resolved = /^\/([^/]+)\/([^/]+)\/resolve\/main\/(.+)$/.exec(url.pathname);
    const find = (user: string, repo: string): HfFile | undefined => files.find((f) => f.user === decodeURIComponent(user) && f.repo === decodeURIComponent(repo));
    if (state.mode === "missing") return void res.writeHead(404, { "content-type": "text/plain" }).end("Entry not found");
    if (manifest) {
      const f = find(manifest[1]!, manifest[2]!);
      if (!f || f.tag.toLowerCase() !== decodeURIComponent(manifest[3]!).toLowerCase()) return void res.writeHead(404).end("{}");
      return void res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ ggufFile: { rfilename: f.file, size: f.body.length } }));
    }
    const f = resolved ? find(resolved[1]!, resolved[2]!) : undefined;
    if (!f || decodeURIComponent(resolved![3]!) !== f.file) return void res.writeHead(404).end("Entry not found");
    state.requests.push({ method: req.method ?? "GET", path: url.pathname, ...(req.headers.range ? { range: req.headers.range } : {}) });
    if (state.mode === "html") return void res.writeHead(200, { "content-type": "text/html; charset=utf-8", "content-length": HTML.length }).end(req.method === "HEAD" ? undefined : HTML);

    const body = state.mode === "short" ? f.body.subarray(0, Math.floor(f.body.length * 0.6)) : f.body;
    let start = 0;
    let end = body.length - 1;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? "");
    if (range) {
      start = Number(range[1]);
      if (range[2]) end = Math.min(end, Number(range[2]));
      if (start > end) return void res.writeHead(416, { "content-range": `bytes */${body.length}` }).end();
    }
    const headers = {
      "content-type": "application/octet-stream",
      "accept-ranges": "bytes",
      "content-length": end - start + 1,
      etag: `"${body.length}"`,
      ...(range ? { "content-range": `bytes ${start}-${end}/${body.length}` } : {}),
    };
    res.writeHead(range ? 206 : 200, headers);
    if (req.method === "HEAD") return void res.end();
    // What this response may send before it stops: the rest, half the file (drop), or a little (stall).
    const limit = state.mode === "drop" ? Math.max(start, Math.floor(body.length / 2)) : state.mode === "stall" ? Math.min(end + 1, start + 4096) : end + 1;
    let at = start;
    const chunk = 16 * 1024;
    const pump = (): void => {
      if (res.destroyed) return;
      if (at >= limit) {
        if (at > end) return void res.end();
        if (state.mode === "drop") return void res.destroy();
        return; // stall: hold the connection open, sending nothing
      }
      const next = Math.min(limit, at + chunk);
      const ok = res.write(body.subarray(at, next));
      at = next;
      const wait = state.bytesPerSecond > 0 ? (chunk / state.bytesPerSecond) * 1000 : 0;
      if (wait > 0) setTimeout(pump, wait);
      else if (ok) setImmediate(pump);
      else res.once("drain", pump);
    };
    pump();
  };

  const server: Server = createServer(serve);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/`;
  return state;
}

/**
 * Every model the catalog offers, each served as `body` under its real repository and file name
 * (Qwen's `qwen2.5-coder-0.5b-instruct-q8_0.gguf` for `hf:Qwen/Qwen2.5-Coder-0.5B-Instruct-GGUF:Q8_0`).
 */
export function catalogFiles(specs: readonly string[], body: Buffer): HfFile[] {
  return specs.map((spec) => {
    const m = /^hf:([^/]+)\/([^:]+):(.+)$/.exec(spec);
    if (!m) throw new Error(`not an hf:user/repo:quant spec: ${spec}`);
    const [, user, repo, tag] = m as unknown as [string, string, string, string];
    return { user, repo, tag, file: `${repo.replace(/-GGUF$/i, "").toLowerCase()}-${tag.toLowerCase()}.gguf`, body };
  });
}
