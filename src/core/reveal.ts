// Untrusted text (file names, file text, model output) shown to a person, in a terminal or in the
// webview: control characters and bidirectional overrides are spelled out (`\x1b`, `\u202e`)
// instead of acting. An escape sequence could retitle a terminal, write its clipboard (OSC 52) or
// clear what was printed; a carriage return could overwrite a line; an override makes text read
// differently from what it is. Newlines and tabs stay.
export function reveal(text: string): string {
  return text.replace(/[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]/g, (c) => {
    const code = c.charCodeAt(0);
    return code < 0x100 ? `\\x${code.toString(16).padStart(2, "0")}` : `\\u${code.toString(16)}`;
  });
}
