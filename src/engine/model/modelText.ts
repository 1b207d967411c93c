// What an engine reads from the model's own files rather than computes with it: its tokenizer and
// its chat template. The local engine holds the whole model, the server engine a vocabulary-only
// copy of the served one; both speak text through this, so their prompts are the same tokens.
import type { LlamaModel, Token as LlamaToken } from "node-llama-cpp";
import type { Token } from "../../core/wim/engine";
import { templateSplitter, type TemplateSplitter } from "./chatTemplate";
import { chunkTokens, chunkTokenizer } from "../tokens/tokenizer";

export class ModelText {
  readonly tokenizeText: (text: string) => Token[];
  private readonly template: TemplateSplitter;
  private counter: ((text: string) => number) | undefined;

  constructor(lib: Parameters<typeof templateSplitter>[0], private readonly model: LlamaModel) {
    this.tokenizeText = chunkTokenizer(model);
    this.template = templateSplitter(lib, model);
  }

  /**
   * tokenizeText's length, counted by pieces where the vocabulary allows: planning a codebase.
   * The counter is built on first use, not while the engine loads: a question asked with a plan
   * in hand never needs it.
   */
  readonly countText = (text: string): number => (this.counter ??= chunkTokens(this.model, this.tokenizeText).count)(text);

  detokenize(tokens: readonly Token[]): string {
    // Special tokens are not rendered: model output shows as text, never as control markup.
    return this.model.detokenize(tokens as LlamaToken[], false);
  }

  chatParts(system: string): { prefix: Token[]; suffix: Token[] } {
    return this.template.parts(system);
  }

  isEndOfGeneration(token: Token): boolean {
    return this.model.isEogToken(token as LlamaToken);
  }
}
