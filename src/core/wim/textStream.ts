// Turns a growing list of tokens into text deltas. A token can end inside a multi-byte character,
// so text that ends in U+FFFD is held back until the next token completes it.
import type { Token } from "./engine";

export class TextStream {
  private readonly tokens: Token[] = [];
  private sent = 0;
  text = "";

  constructor(private readonly detokenize: (tokens: readonly Token[]) => string) {}

  push(token: Token): string {
    this.tokens.push(token);
    const text = this.detokenize(this.tokens);
    if (text.endsWith("\uFFFD")) return "";
    this.text = text;
    const delta = text.slice(this.sent);
    this.sent = text.length;
    return delta;
  }

  /** Whatever is left once generation ends, complete or not. */
  flush(): string {
    this.text = this.detokenize(this.tokens);
    const delta = this.text.slice(this.sent);
    this.sent = this.text.length;
    return delta;
  }

  get count(): number {
    return this.tokens.length;
  }

  get all(): readonly Token[] {
    return this.tokens;
  }
}
