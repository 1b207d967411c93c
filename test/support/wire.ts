// What an engine was given, against what it should have been. A proxy in front of a real server
// records every completion request as it crossed the wire; a wrapper around the engine keeps its
// own copy of each sequence's tokens by the EngineSequence contract alone (an append adds, a
// generation adds its prompt and what it yielded, an erase cuts), and says which request each
// call must make, and, for the local engine, what node-llama-cpp must hold after it. Exact
// whatever the kernels round, unlike outputs.
import assert from "node:assert/strict";
import { createServer, request as httpRequest, type IncomingHttpHeaders } from "node:http";
import type { EngineSequence, GenerateOptions, Token, TokenList, WimEngine } from "../../src/core/wim/engine";

/** A completion request as the server engine must send it: the slot, the whole prompt, how many tokens to generate. */
export interface Sent { slot: number; prompt: Token[]; generate: number }

export interface RecordingProxy { url: string; completions: Sent[]; close: () => Promise<void> }

/** An HTTP proxy to `target` that records every POST to /completion; everything else passes through as it is. */
export function recordingProxy(target: string): Promise<RecordingProxy> {
  const completions: Sent[] = [];
  const to = new URL(target);
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const body = Buffer.concat(chunks);
      if (req.method === "POST" && req.url?.split("?")[0] === "/completion") {
        const b = JSON.parse(body.toString("utf8")) as { id_slot: number; prompt: Token[]; n_predict: number };
        completions.push({ slot: b.id_slot, prompt: b.prompt, generate: b.n_predict });
      }
      const headers: IncomingHttpHeaders = { ...req.headers, host: to.host };
      // A connection a request of its own: a pooled one may be one a cancelled response closed.
      const upstream = httpRequest({ host: to.hostname, port: to.port, method: req.method, path: req.url, headers, agent: false }, (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      });
      // A client that closes its response (a margin that has enough tokens) closes the upstream one, as the server expects.
      res.on("close", () => { if (!res.writableFinished) upstream.destroy(); });
      upstream.on("error", () => res.destroy());
      upstream.end(body);
    });
  });
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => {
      const { port } = server.address() as { port: number };
      resolve({ url: `http://127.0.0.1:${port}`, completions, close: () => new Promise((r) => { server.closeAllConnections(); server.close(() => r()); }) });
    });
  });
}

/**
 * `engine` with its sequences watched: `expected` lists, in order, the request each call must make.
 * With `holds`, after each call the sequence's own tokens must be the copy's as well: for the local
 * engine these are node-llama-cpp's record of its KV cache, so a prompt token lost on the way in
 * shows there whatever the model makes of it. (After a generation the last token yielded may not
 * be evaluated yet; the contract leaves that open, since a margin is erased next.)
 */
export function watchSequences(engine: WimEngine, options: { holds?: boolean } = {}): { engine: WimEngine; expected: Sent[] } {
  const expected: Sent[] = [];
  const watch = (seq: EngineSequence, slot: number): EngineSequence => {
    let tokens: Token[] = [...seq.tokens];
    const check = (call: string, lastPending = false): void => {
      if (!options.holds) return;
      const held = [...seq.tokens];
      const want = lastPending && held.length === tokens.length - 1 ? tokens.slice(0, -1) : tokens;
      assert.deepEqual(held, want, `sequence ${slot} after ${call}: what it holds`);
    };
    const calls = {
      async append(list: TokenList, signal?: AbortSignal, appendOptions?: { whole?: boolean }): Promise<void> {
        tokens = [...tokens, ...Array.from(list)];
        expected.push({ slot, prompt: tokens, generate: 0 });
        await seq.append(list, signal, appendOptions);
        check("an append");
      },
      async *generate(prompt: readonly Token[], generateOptions: GenerateOptions): AsyncGenerator<Token> {
        tokens = [...tokens, ...prompt];
        expected.push({ slot, prompt: tokens, generate: generateOptions.maxTokens });
        for await (const t of seq.generate(prompt, generateOptions)) {
          tokens = [...tokens, t];
          yield t;
        }
        check("a generation", true);
      },
      async truncate(length: number): Promise<void> {
        tokens = tokens.slice(0, length);
        await seq.truncate(length);
        check("an erase");
      },
      async nextTokenProbabilities(prompt: readonly Token[], candidates: readonly Token[]): Promise<number[]> {
        tokens = [...tokens, ...prompt];
        expected.push({ slot, prompt: tokens, generate: 1 });
        const p = await seq.nextTokenProbabilities(prompt, candidates);
        check("a verdict");
        return p;
      },
    };
    return new Proxy(seq, { get: (target, prop) => (Object.hasOwn(calls, prop) ? calls[prop as keyof typeof calls] : Reflect.get(target, prop, target)) });
  };
  const prepare: WimEngine["prepare"] = async (prepareOptions) => (await engine.prepare(prepareOptions)).map(watch);
  const wrapped = new Proxy(engine, {
    get: (target, prop) => {
      if (prop === "prepare") return prepare;
      const v = Reflect.get(target, prop, target);
      return typeof v === "function" ? v.bind(target) : v;
    },
  });
  return { engine: wrapped, expected };
}

/** Requests by slot, in the order each slot saw them (two slots' requests may interleave either way). */
export function bySlot(list: readonly Sent[]): Map<number, Sent[]> {
  const out = new Map<number, Sent[]>();
  for (const s of list) out.set(s.slot, [...(out.get(s.slot) ?? []), s]);
  return out;
}
