import { test } from "node:test";
import assert from "node:assert/strict";
import { reveal } from "../../src/core/reveal";

test("control characters and bidirectional overrides are spelled out; other text, newlines and tabs stay", () => {
  assert.equal(reveal("a\u001b]0;title\u0007b\r\n\tc\u0000\u009b"), "a\\x1b]0;title\\x07b\\x0d\n\tc\\x00\\x9b");
  assert.equal(reveal("if (admin\u202e \u2066// check\u2069\u2067)"), "if (admin\\u202e \\u2066// check\\u2069\\u2067)");
  const plain = "é ü 漢字 שלום مرحبا 🙂 <script> `x` **y**";
  assert.equal(reveal(plain), plain, "right-to-left scripts themselves are text, not overrides");
});
