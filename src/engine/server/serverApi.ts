// The two server protocols the server engine speaks, as token-id completions: llama.cpp's
// llama-server (`/completion`, one KV cache per slot, `cache_prompt`) and vLLM's OpenAI-compatible
// `/v1/completions` (automatic prefix caching). Each request carries the whole prefix; the server
// computes only what its cache lacks and says how much it reused.

import { CANDIDATE_LIFT } from "../../core/wim/engine";

export const SERVER_KINDS = ["llama-server", "vllm"] as const;
export type ServerKind = (typeof SERVER_KINDS)[number];

export interface ServerConnection {
  url: string;
  apiKey?: string;
  /** The served model's name (vLLM needs it; llama-server ignores it). */
  model?: string;
  kind?: ServerKind;
  /** Until the response's headers arrive. */
  timeoutMs?: number;
  /** Retries of a request answered 429 or 503, with exponential backoff. */
  retries?: number;
}

export interface ServerInfo { kind: ServerKind; model: string; contextPerSlot: number; slots: number }

export interface CompletionRequest {
  /** llama-server's slot, so a sequence keeps its own cache; vLLM shares one prefix cache. */
  slot: number;
  prompt: readonly number[];
  /** 0 only fills the cache with the prompt. */
  maxTokens: number;
  /**
   * Also return, for the first generated token, the probabilities of these tokens relative to one
   * another (what a verdict needs: which is likelier, and by how much).
   */
  candidates?: readonly number[];
  signal?: AbortSignal;
}

/** What one request cost: prompt tokens, how many of them came from the server's cache, tokens generated. */
export interface Usage { prompt: number; cached: number; generated: number }

export interface CompletionEnd { usage: Usage; probabilities?: Map<number, number> }

export interface ServerProtocol {
  readonly kind: ServerKind;
  info(signal?: AbortSignal): Promise<ServerInfo>;
  /** Generated token ids as they arrive; the return value once the server has finished. */
  complete(request: CompletionRequest): AsyncGenerator<number[], CompletionEnd>;
}

export class ServerError extends Error {
  override name = "ServerError";
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal?.addEventListener("abort", () => { clearTimeout(t); reject(signal.reason); }, { once: true });
  });

/** A request with the connection's key, a timeout until the headers, and retries on 429/503. */
export async function request(c: ServerConnection, path: string, body: unknown, signal?: AbortSignal): Promise<Response> {
  const url = new URL(path, c.url.endsWith("/") ? c.url : c.url + "/").toString();
  const retries = c.retries ?? 4;
  const timeoutMs = c.timeoutMs ?? 60_000;
  for (let attempt = 0; ; attempt++) {
    const timeout = AbortSignal.timeout(timeoutMs);
    let response: Response;
    try {
      response = await fetch(url, {
        method: body === undefined ? "GET" : "POST",
        headers: { "content-type": "application/json", ...(c.apiKey ? { authorization: `Bearer ${c.apiKey}` } : {}) },
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: signal ? AbortSignal.any([signal, timeout]) : timeout,
      });
    } catch (err) {
      if (signal?.aborted) throw signal.reason;
      if (timeout.aborted) throw new ServerError(`the server at ${c.url} did not answer within ${(timeoutMs / 1000).toFixed(timeoutMs < 10_000 ? 1 : 0)} s`);
      const cause = (err as { cause?: { code?: string } }).cause?.code;
      throw new ServerError(`cannot reach the server at ${c.url}${cause ? ` (${cause})` : ""}: is it running, and is the URL right?`);
    }
    if ((response.status === 429 || response.status === 503) && attempt < retries) {
      await response.body?.cancel();
      const after = Number(response.headers.get("retry-after"));
      await sleep(Number.isFinite(after) && after > 0 ? after * 1000 : 500 * 2 ** attempt, signal);
      continue;
    }
    if (response.status === 401 || response.status === 403) throw new ServerError(`the server at ${c.url} refused the API key (HTTP ${response.status})`);
    if (!response.ok) {
      const text = (await response.text().catch(() => "")).slice(0, 300);
      throw new ServerError(`the server at ${c.url} answered ${path} with HTTP ${response.status}${text ? `: ${text}` : ""}`);
    }
    return response;
  }
}

/** Server-sent events: each `data:` line's JSON, until the stream ends or says [DONE]. */
export async function* events(response: Response): AsyncGenerator<Record<string, unknown>> {
  const decoder = new TextDecoder();
  let buffer = "";
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    buffer += decoder.decode(chunk, { stream: true });
    let end: number;
    while ((end = buffer.indexOf("\n")) >= 0) {
      const line = buffer.slice(0, end).trim();
      buffer = buffer.slice(end + 1);
      if (!line.startsWith("data:")) continue;
      const data = line.slice(5).trim();
      if (data === "[DONE]") return;
      const event = JSON.parse(data) as Record<string, unknown>;
      if (event.error) throw new ServerError(`the server failed the request: ${JSON.stringify(event.error).slice(0, 300)}`);
      yield event;
    }
  }
}

export class LlamaServerProtocol implements ServerProtocol {
  readonly kind = "llama-server" as const;
  constructor(private readonly c: ServerConnection) {}

  async info(signal?: AbortSignal): Promise<ServerInfo> {
    const props = (await (await request(this.c, "props", undefined, signal)).json()) as { total_slots?: number; default_generation_settings?: { n_ctx?: number }; model_alias?: string; model_path?: string };
    const n = props.default_generation_settings?.n_ctx;
    if (!props.total_slots || !n) throw new ServerError(`${this.c.url}/props does not look like llama-server's`);
    return { kind: this.kind, model: props.model_alias || props.model_path || "llama-server", contextPerSlot: n, slots: props.total_slots };
  }

  async *complete(r: CompletionRequest): AsyncGenerator<number[], CompletionEnd> {
    const body = {
      prompt: r.prompt, n_predict: r.maxTokens, id_slot: r.slot, cache_prompt: true, stream: true, return_tokens: true,
      // Greedy, and with top_k 1 nothing else in the sampler chain can change the choice.
      ...(r.candidates ? candidateSampling(r.candidates) : { temperature: 0, top_k: 1 }),
    };
    const response = await request(this.c, "completion", body, r.signal);
    let probabilities: Map<number, number> | undefined;
    for await (const e of events(response)) {
      const probs = (e.completion_probabilities as { top_probs?: { id: number; prob: number }[] }[] | undefined)?.[0]?.top_probs;
      if (probs && !probabilities) probabilities = new Map(probs.map((p) => [p.id, p.prob]));
      const tokens = (e.tokens as number[] | undefined) ?? [];
      if (!e.stop && tokens.length) yield tokens;
      if (e.stop) {
        const t = e.timings as { cache_n?: number; prompt_n?: number; predicted_n?: number } | undefined;
        const cached = t?.cache_n ?? 0;
        return { usage: { prompt: cached + (t?.prompt_n ?? 0), cached, generated: t?.predicted_n ?? 0 }, ...(probabilities ? { probabilities } : {}) };
      }
    }
    throw new ServerError("the server ended the response before the completion");
  }
}

export class VllmProtocol implements ServerProtocol {
  readonly kind = "vllm" as const;
  private model = "";
  constructor(private readonly c: ServerConnection) {}

  async info(signal?: AbortSignal): Promise<ServerInfo> {
    const models = (await (await request(this.c, "v1/models", undefined, signal)).json()) as { data?: { id: string; max_model_len?: number }[] };
    const served = models.data?.find((m) => !this.c.model || m.id === this.c.model);
    if (!served) throw new ServerError(`${this.c.url} serves no model${this.c.model ? ` named ${this.c.model}` : ""}`);
    this.model = served.id;
    // One shared prefix cache: "slots" only bound how many sequences run at once.
    return { kind: this.kind, model: served.id, contextPerSlot: served.max_model_len ?? 0, slots: 2 };
  }

  async *complete(r: CompletionRequest): AsyncGenerator<number[], CompletionEnd> {
    const body = {
      model: this.model || this.c.model, prompt: r.prompt,
      // vLLM generates at least one token; a cache fill discards it.
      max_tokens: Math.max(1, r.maxTokens), temperature: 0, stream: true, stream_options: { include_usage: true },
      // vLLM's logprobs are the raw distribution's: the candidates are read from its top 20 (the
      // OpenAI limit); a candidate outside them counts as 0. Real models put yes/no at the top.
      logprobs: r.candidates ? 20 : 1, return_tokens_as_token_ids: true, skip_special_tokens: false,
    };
    const response = await request(this.c, "v1/completions", body, r.signal);
    let probabilities: Map<number, number> | undefined;
    let usage: Usage | undefined;
    for await (const e of events(response)) {
      const u = e.usage as { prompt_tokens?: number; completion_tokens?: number; prompt_tokens_details?: { cached_tokens?: number } } | null | undefined;
      if (u) usage = { prompt: u.prompt_tokens ?? 0, cached: u.prompt_tokens_details?.cached_tokens ?? 0, generated: u.completion_tokens ?? 0 };
      for (const choice of (e.choices as { logprobs?: { tokens?: string[]; top_logprobs?: Record<string, number>[] } }[] | undefined) ?? []) {
        const lp = choice.logprobs;
        if (lp?.top_logprobs?.[0] && !probabilities) probabilities = new Map(Object.entries(lp.top_logprobs[0]).map(([k, v]) => [tokenId(k), Math.exp(v)]));
        const tokens = (lp?.tokens ?? []).map(tokenId);
        if (tokens.length && r.maxTokens > 0) yield tokens;
      }
    }
    if (!usage) throw new ServerError("the server's response carried no usage: is this vLLM with stream_options supported?");
    return { usage, ...(probabilities ? { probabilities } : {}) };
  }
}

/**
 * Candidates' relative probabilities from llama-server: the same lift as the local engine's
 * (CANDIDATE_LIFT), read as probabilities after that bias. The top probabilities of the whole
 * vocabulary would not reach a candidate a random or unsure model ranks low.
 */
function candidateSampling(candidates: readonly number[]): Record<string, unknown> {
  return {
    logit_bias: candidates.map((c) => [c, CANDIDATE_LIFT]), n_probs: candidates.length, post_sampling_probs: true,
    samplers: ["temperature"], temperature: 1,
  };
}

/** vLLM writes a token as "token_id:123" when return_tokens_as_token_ids is set. */
export function tokenId(s: string): number {
  const m = /^token_id:(\d+)$/.exec(s);
  if (!m) throw new ServerError(`expected a token id ("token_id:N") from the server, got ${JSON.stringify(s).slice(0, 40)}`);
  return Number(m[1]);
}

/** Which protocol the URL speaks: llama-server answers /props; vLLM (any OpenAI-compatible server) /v1/models. */
export async function detectProtocol(c: ServerConnection, signal?: AbortSignal): Promise<{ protocol: ServerProtocol; info: ServerInfo }> {
  if (c.kind !== "vllm") {
    const llama = new LlamaServerProtocol(c);
    try {
      return { protocol: llama, info: await llama.info(signal) };
    } catch (err) {
      if (c.kind === "llama-server" || (err instanceof ServerError && /cannot reach|did not answer|refused the API key/.test(err.message))) throw err;
    }
  }
  const vllm = new VllmProtocol(c);
  try {
    return { protocol: vllm, info: await vllm.info(signal) };
  } catch (err) {
    if (c.kind === "vllm") throw err;
    throw new ServerError(`${c.url} is neither llama-server (GET /props) nor an OpenAI-compatible completions server (GET /v1/models): ${(err as Error).message}`);
  }
}
