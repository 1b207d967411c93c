import { test } from "node:test";
import assert from "node:assert/strict";
import { findCitations } from "../../src/core/wim/citations";
import type { SourcePiece } from "../../src/core/pack/packer";

const piece = (path: string, startLine: number, endLine: number): SourcePiece => ({ path, startLine, endLine, headerStart: 0, start: 0, end: 0, tokens: 0, chunkEnds: [] });
const sources = [piece("src/retry.ts", 1, 40), piece("lib/http/client.ts", 100, 180)];

test("cites only paths and lines inside the margin's own segment", () => {
  const margin = "The delay is computed in src/retry.ts:12-14 and used by lib/http/client.ts:150; see also src/retry.ts:99 and other.ts:3.";
  assert.deepEqual(findCitations(margin, sources).map((c) => [c.path, c.line, c.endLine]), [
    ["src/retry.ts", 12, 14],
    ["lib/http/client.ts", 150, 150],
  ]);
});

test("a path given relative to a folder inside the segment still resolves, each place once", () => {
  assert.deepEqual(findCitations("http/client.ts:120, ./src/retry.ts:3 and again src/retry.ts:3", sources).map((c) => `${c.path}:${c.line}`), [
    "lib/http/client.ts:120",
    "src/retry.ts:3",
  ]);
});

test("a range running past the piece is clipped to it", () => {
  assert.equal(findCitations("src/retry.ts:30-90", sources)[0]!.endLine, 40);
});
