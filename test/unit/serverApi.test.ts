// vLLM cannot be installed here, so its protocol is checked against responses shaped as vLLM's
// documentation of its OpenAI-compatible server shows them (token ids as "token_id:N" with
// return_tokens_as_token_ids, usage.prompt_tokens_details.cached_tokens with
// --enable-prompt-tokens-details), replayed by a local HTTP server that also records each request.
// llama-server is tested for real in test/engine/server.test.ts. Also here: retries, keys, timeouts.
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { detectProtocol, ServerError, tokenId, VllmProtocol } from "../../src/engine/server/serverApi";

const MODEL = "Qwen/Qwen2.5-Coder-1.5B-Instruct";
const MODELS = { object: "list", data: [{ id: MODEL, object: "model", owned_by: "vllm", root: MODEL, max_model_len: 32768 }] };
/** A streamed completion of two tokens, then the usage chunk, then [DONE]. */
const STREAM = [
  { id: "cmpl-1", object: "text_completion", created: 1, model: MODEL, choices: [{ index: 0, text: " The", logprobs: { text_offset: [0], token_logprobs: [-0.105], tokens: ["token_id:576"], top_logprobs: [{ "token_id:576": -0.105, "token_id:9454": -2.5 }] }, finish_reason: null, stop_reason: null }], usage: null },
  { id: "cmpl-1", object: "text_completion", created: 1, model: MODEL, choices: [{ index: 0, text: " retry", logprobs: { text_offset: [4], token_logprobs: [-0.3], tokens: ["token_id:22683"], top_logprobs: [{ "token_id:22683": -0.3 }] }, finish_reason: "length", stop_reason: null }], usage: null },
  { id: "cmpl-1", object: "text_completion", created: 1, model: MODEL, choices: [], usage: { prompt_tokens: 1200, total_tokens: 1202, completion_tokens: 2, prompt_tokens_details: { cached_tokens: 1184 } } },
];

let server: Server;
let url: string;
const seen: { path: string; auth?: string; body?: Record<string, unknown> }[] = [];
let script: ((req: IncomingMessage, res: ServerResponse, body?: Record<string, unknown>) => boolean) | undefined;

before(async () => {
  server = createServer((req, res) => {
    let raw = "";
    req.on("data", (d: Buffer) => { raw += d; });
    req.on("end", () => {
      const body = raw ? (JSON.parse(raw) as Record<string, unknown>) : undefined;
      seen.push({ path: req.url!, ...(req.headers.authorization ? { auth: req.headers.authorization } : {}), ...(body ? { body } : {}) });
      if (script?.(req, res, body)) return;
      if (req.url === "/v1/models") return void res.end(JSON.stringify(MODELS));
      if (req.url === "/v1/completions") {
        res.writeHead(200, { "content-type": "text/event-stream" });
        for (const chunk of STREAM) res.write(`data: ${JSON.stringify(chunk)}\n\n`);
        return void res.end("data: [DONE]\n\n");
      }
      res.writeHead(404).end("not found");
    });
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
after(() => { server.close(); });

test("a server without /props is taken for vLLM; the model and its context come from /v1/models", async () => {
  const { protocol, info } = await detectProtocol({ url });
  assert.equal(protocol.kind, "vllm");
  assert.deepEqual(info, { kind: "vllm", model: MODEL, contextPerSlot: 32768, slots: 2 });
  await assert.rejects(detectProtocol({ url, model: "other" }), /serves no model named other/);
});

test("a completion sends token ids greedily with the key, and reads tokens, top probabilities and cached tokens", async () => {
  seen.length = 0;
  const vllm = new VllmProtocol({ url, apiKey: "secret-key" });
  await vllm.info();
  const stream = vllm.complete({ slot: 0, prompt: [1, 2, 3], maxTokens: 2, candidates: [576, 9454] });
  const tokens: number[] = [];
  let next = await stream.next();
  while (!next.done) { tokens.push(...next.value); next = await stream.next(); }
  assert.deepEqual(tokens, [576, 22683]);
  assert.deepEqual(next.value.usage, { prompt: 1200, cached: 1184, generated: 2 });
  assert.ok(Math.abs(next.value.probabilities!.get(576)! - Math.exp(-0.105)) < 1e-12);
  assert.ok(Math.abs(next.value.probabilities!.get(9454)! - Math.exp(-2.5)) < 1e-12);
  const request = seen.find((s) => s.path === "/v1/completions")!;
  assert.equal(request.auth, "Bearer secret-key");
  assert.deepEqual(request.body, {
    model: MODEL, prompt: [1, 2, 3], max_tokens: 2, temperature: 0, stream: true, stream_options: { include_usage: true },
    logprobs: 20, return_tokens_as_token_ids: true, skip_special_tokens: false,
  });
});

test("a cache fill asks for one token and yields none", async () => {
  const vllm = new VllmProtocol({ url });
  await vllm.info();
  const stream = vllm.complete({ slot: 0, prompt: [1, 2], maxTokens: 0 });
  const first = await stream.next();
  assert.equal(first.done, true);
  assert.equal(seen.at(-1)!.body!.max_tokens, 1);
});

test("429 and 503 are retried with backoff; 401 names the key; a silent server times out", async () => {
  let busy = 2;
  script = (req, res) => {
    if (req.url === "/v1/models" && busy-- > 0) { res.writeHead(busy ? 503 : 429, { "retry-after": "0" }).end(); return true; }
    return false;
  };
  try {
    const { info } = await detectProtocol({ url, kind: "vllm", retries: 3 });
    assert.equal(info.model, MODEL);
    busy = 5;
    await assert.rejects(detectProtocol({ url, kind: "vllm", retries: 1 }), /answered v1\/models with HTTP (429|503)/);
    script = (_req, res) => { res.writeHead(401).end(); return true; };
    await assert.rejects(detectProtocol({ url, kind: "vllm" }), (err: Error) => err instanceof ServerError && /refused the API key \(HTTP 401\)/.test(err.message));
    script = () => true; // never answers
    await assert.rejects(detectProtocol({ url, kind: "vllm", timeoutMs: 200 }), /did not answer within 0.2 s/);
  } finally {
    script = undefined;
  }
});

test("a token that is not an id is refused rather than guessed", () => {
  assert.equal(tokenId("token_id:42"), 42);
  assert.throws(() => tokenId(" The"), /expected a token id/);
});
