// Turns a growing list of tokens into text deltas. A token can end inside a multi-byte character,
// so text that ends in U+FFFD is held back until the next token completes it.
import type { Token } from "./engine";

export class TextStream {
  private readonly tokens: Token[] = [];
  private sent = 0;
  text = "";

  /** `dropLeading` strips a prefix (such as separators after a verdict word) from the text and its deltas alike. */
  constructor(private readonly detokenize: (tokens: readonly Token[]) => string, private readonly dropLeading?: RegExp) {}

  private render(): string {
    const text = this.detokenize(this.tokens);
    return this.dropLeading ? text.replace(this.dropLeading, "") : text;
  }

  push(token: Token): string {
    this.tokens.push(token);
    const text = this.render();
    if (text.endsWith("\uFFFD")) return "";
    this.text = text;
    const delta = text.slice(this.sent);
    this.sent = text.length;
    return delta;
  }

  /** Whatever is left once generation ends, complete or not. */
  flush(): string {
    this.text = this.render();
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
