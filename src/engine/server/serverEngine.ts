// The WiM engine over a server (llama-server or vLLM): a sequence is a token list kept here; each
// step sends the whole list plus the new part, and the server's prefix cache computes only what it
// has not seen. Erasing a margin is the next request not containing it. Tokens come from a local
// copy of the model's vocabulary (the same GGUF, loaded without its weights), so prompts are exact.
import type { LlamaModel } from "node-llama-cpp";
import { abortError, type EngineInfo, type EngineSequence, type GenerateOptions, type PrepareOptions, type Token, type TokenList, type WimEngine } from "../../core/wim/engine";
import { loadLlama, nodeLlamaCpp } from "../llama/runtime";
import { checkModelFile, ModelFileError } from "../model/modelFile";
import { detectProtocol, ServerError, type ServerConnection, type ServerInfo, type ServerProtocol, type Usage } from "./serverApi";
import { ModelText } from "../model/modelText";

export interface ServerEngineOptions extends ServerConnection {
  /** A GGUF of the served model, for its tokenizer and chat template (only the vocabulary is loaded). */
  modelPath: string;
  signal?: AbortSignal;
}

/** What the server's caches saved: prompt tokens sent, and how many of them it did not compute again. */
export interface ServerReuse { requests: number; promptTokens: number; cachedTokens: number }

export async function openServerEngine(options: ServerEngineOptions): Promise<ServerEngine> {
  await checkModelFile(options.modelPath);
  const { protocol, info } = await detectProtocol(options, options.signal);
  const lib = await nodeLlamaCpp();
  const llama = await loadLlama("cpu");
  let model: LlamaModel;
  try {
    model = await llama.loadModel({ modelPath: options.modelPath, vocabOnly: true });
  } catch (err) {
    throw new ModelFileError(`cannot load the tokenizer of ${options.modelPath}: ${(err as Error).message}`);
  }
  return new ServerEngine(protocol, info, model, new ModelText(lib, model), options);
}

export class ServerEngine implements WimEngine {
  readonly info: EngineInfo;
  readonly tokenizeText: (text: string) => Token[];
  readonly countText: (text: string) => number;
  evaluatedTokens = 0;
  readonly reuse: ServerReuse = { requests: 0, promptTokens: 0, cachedTokens: 0 };

  constructor(
    readonly protocol: ServerProtocol,
    readonly server: ServerInfo,
    private readonly model: LlamaModel,
    private readonly text: ModelText,
    readonly options: ServerEngineOptions,
  ) {
    this.tokenizeText = text.tokenizeText;
    this.countText = text.countText;
    this.info = {
      model: `${server.model} at ${options.url}`, backend: server.kind, gpuNames: [], gpuLayers: 0, totalLayers: 0,
      trainContextSize: server.contextPerSlot,
    };
  }

  detokenize(tokens: readonly Token[]): string {
    return this.text.detokenize(tokens);
  }

  chatParts(system: string): { prefix: Token[]; suffix: Token[] } {
    return this.text.chatParts(system);
  }

  isEndOfGeneration(token: Token): boolean {
    return this.text.isEndOfGeneration(token);
  }

  async prepare({ tokensPerSequence, sequences }: PrepareOptions): Promise<EngineSequence[]> {
    if (sequences > this.server.slots) throw new ServerError(`the run needs ${sequences} server slots, ${this.options.url} has ${this.server.slots} (start llama-server with --parallel ${sequences})`);
    if (tokensPerSequence > this.server.contextPerSlot) {
      throw new ServerError(`the run needs ${tokensPerSequence.toLocaleString("en-US")} tokens per slot, ${this.options.url} gives each slot ${this.server.contextPerSlot.toLocaleString("en-US")}`);
    }
    return Array.from({ length: sequences }, (_, slot) => new ServerSequence(this, slot));
  }

  /** Books one request's usage. */
  count(usage: Usage): void {
    this.reuse.requests++;
    this.reuse.promptTokens += usage.prompt;
    this.reuse.cachedTokens += usage.cached;
    this.evaluatedTokens += usage.prompt - usage.cached + usage.generated;
  }

  async dispose(): Promise<void> {
    await this.model.dispose();
  }
}

class ServerSequence implements EngineSequence {
  private held: Token[] = [];

  constructor(private readonly engine: ServerEngine, private readonly slot: number) {}

  get length(): number {
    return this.held.length;
  }

  get tokens(): readonly Token[] {
    return this.held;
  }

  async append(tokens: TokenList, signal?: AbortSignal): Promise<void> {
    if (signal?.aborted) throw abortError(signal);
    const prompt = [...this.held, ...tokens];
    // Filled now, so that the prefill is paid (and timed) where the session expects it.
    await this.drain(this.engine.protocol.complete({ slot: this.slot, prompt, maxTokens: 0, ...(signal ? { signal } : {}) }));
    this.held = prompt;
  }

  async *generate(prompt: readonly Token[], { maxTokens, signal, shouldStop }: GenerateOptions): AsyncGenerator<Token> {
    if (signal?.aborted) throw abortError(signal);
    const full = [...this.held, ...prompt];
    const controller = new AbortController();
    const stop = (): void => controller.abort(abortError(signal));
    signal?.addEventListener("abort", stop, { once: true });
    const produced: Token[] = [];
    const stream = this.engine.protocol.complete({ slot: this.slot, prompt: full, maxTokens, signal: controller.signal });
    try {
      for (;;) {
        const next = await stream.next();
        if (next.done) {
          this.engine.count(next.value.usage);
          break;
        }
        let ended = false;
        for (const token of next.value) {
          if (this.engine.isEndOfGeneration(token) || produced.length >= maxTokens) { ended = true; break; }
          produced.push(token);
          yield token;
          if (signal?.aborted || shouldStop?.()) { ended = true; break; }
        }
        if (ended) {
          // Closing the response cancels the rest on the server.
          controller.abort(new DOMException("enough", "AbortError"));
          await stream.return(undefined as never).catch(() => undefined);
          break;
        }
      }
    } catch (err) {
      if (!controller.signal.aborted) throw err;
    } finally {
      signal?.removeEventListener("abort", stop);
      this.held = [...full, ...produced];
    }
  }

  async truncate(length: number): Promise<void> {
    // The server keeps its cache; the next request simply does not contain what was erased.
    this.held = this.held.slice(0, length);
  }

  async nextTokenProbabilities(prompt: readonly Token[], candidates: readonly Token[]): Promise<number[]> {
    const full = [...this.held, ...prompt];
    const end = await this.drain(this.engine.protocol.complete({ slot: this.slot, prompt: full, maxTokens: 1, candidates }));
    this.held = full;
    return candidates.map((c) => end.probabilities?.get(c) ?? 0);
  }

  private async drain(stream: AsyncGenerator<number[], { usage: Usage; probabilities?: Map<number, number> }>): Promise<{ usage: Usage; probabilities?: Map<number, number> }> {
    for (;;) {
      const next = await stream.next();
      if (next.done) {
        this.engine.count(next.value.usage);
        return next.value;
      }
    }
  }
}
