// Turns a growing list of tokens into text deltas. A token can end inside a multi-byte character,
// so text that ends in U+FFFD is held back until the next token completes it.
//
// Each push renders only the tokens not yet committed, behind a few committed ones for context,
// not the whole list again: re-rendering everything made a token's cost grow with the text (an
// answer's 500th token rendered 500). The context lets the detokenizer decide spaces and joins as
// it would for the whole text (node-llama-cpp's `detokenize(tokens, special, lastTokens)` does the
// same with 3); where the context's own text is not a prefix of the rendering, the whole list is
// rendered. The deltas add up to what rendering every token at once gives.
import type { Token } from "./engine";

/** At least this many committed tokens are rendered before the new ones, for the detokenizer's spacing rules. */
const CONTEXT = 4;

export class TextStream {
  private readonly tokens: Token[] = [];
  /**
   * Recent counts of tokens whose text is in `raw`, the last one current (any tokens after it end
   * inside a character): the context starts at one of them, never inside a character.
   */
  private readonly bounds: number[] = [0];
  private raw = "";
  private sent = 0;
  text = "";

  /** `dropLeading` strips a prefix (such as separators after a verdict word) from the text and its deltas alike. */
  constructor(private readonly detokenize: (tokens: readonly Token[]) => string, private readonly dropLeading?: RegExp) {}

  private get done(): number {
    return this.bounds[this.bounds.length - 1]!;
  }

  private render(): string {
    let from = 0;
    for (let i = this.bounds.length - 1; i >= 0 && !from; i--) if (this.bounds[i]! <= this.done - CONTEXT) from = this.bounds[i]!;
    if (from === 0) return this.detokenize(this.tokens);
    const context = this.detokenize(this.tokens.slice(from, this.done));
    const rendered = this.detokenize(this.tokens.slice(from));
    if (!rendered.startsWith(context) || !this.raw.endsWith(context)) return this.detokenize(this.tokens);
    return this.raw + rendered.slice(context.length);
  }

  private commit(raw: string, final = false): string {
    this.raw = raw;
    this.bounds.push(this.tokens.length);
    if (this.bounds.length > 4 * CONTEXT) this.bounds.splice(0, this.bounds.length - 2 * CONTEXT);
    this.text = this.dropLeading ? raw.replace(this.dropLeading, "") : raw;
    // Trailing white space waits for what follows it: a detokenizer that cleans up spaces (Llama
    // 3's) drops a space before punctuation once the punctuation comes, and a sent delta stays sent.
    const end = final ? this.text.length : this.text.trimEnd().length;
    if (end <= this.sent) return "";
    const delta = this.text.slice(this.sent, end);
    this.sent = end;
    return delta;
  }

  push(token: Token): string {
    this.tokens.push(token);
    const raw = this.render();
    return raw.endsWith("\uFFFD") ? "" : this.commit(raw);
  }

  /** Whatever is left once generation ends, complete or not; `text` is then every token rendered at once. */
  flush(): string {
    return this.commit(this.detokenize(this.tokens), true);
  }

  get count(): number {
    return this.tokens.length;
  }

  get all(): readonly Token[] {
    return this.tokens;
  }
}
