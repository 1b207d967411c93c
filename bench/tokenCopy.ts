// npm run bench:token-copy -- [--depths 600,4096,16384,30720] [--tokens N] [--rounds R]
// What node-llama-cpp 3.21.1's bookkeeping costs a decoded token at a depth: its statement
// `this._contextTokens = this._contextTokens.concat(tokensToDecode)` run once per token on a list
// that already holds `depth` tokens, as its plain array (a copy each time) and as the engine's
// AppendInPlace (src/engine/llama/tokensInPlace.ts). JavaScript alone, no model: the figure that
// bench:decode-parts' "the rest" row carries at the same depth. Median of R rounds, one process.
import { parseArgs } from "node:util";
import { appendInPlace } from "../src/engine/llama/tokensInPlace";
import { median } from "./median";

const { values } = parseArgs({
  options: { depths: { type: "string", default: "600,4096,16384,30720" }, tokens: { type: "string", default: "500" }, rounds: { type: "string", default: "5" } },
});
const depths = values.depths!.split(",").map(Number);
const tokens = Number(values.tokens);
const rounds = Number(values.rounds);

/** Microseconds a token for `tokens` single-token decodes onto a list of `depth`. */
function perToken(depth: number, make: (start: number[]) => number[]): number {
  const seq = { _contextTokens: make(Array.from({ length: depth }, (_, i) => (i * 7919) % 32000)) };
  const started = performance.now();
  for (let t = 0; t < tokens; t++) seq._contextTokens = seq._contextTokens.concat([t % 32000]);
  const us = ((performance.now() - started) * 1000) / tokens;
  if (seq._contextTokens.length !== depth + tokens) throw new Error("lost tokens");
  return us;
}

const rows = depths.map((depth) => {
  const copy: number[] = [];
  const inPlace: number[] = [];
  for (let r = 0; r < rounds; r++) {
    copy.push(perToken(depth, (start) => start));
    inPlace.push(perToken(depth, (start) => appendInPlace(start)));
  }
  const row = { depth, copyUs: +median(copy).toFixed(2), inPlaceUs: +median(inPlace).toFixed(2) };
  console.log(`depth ${String(depth).padStart(6)}: node-llama-cpp's copy ${row.copyUs.toFixed(1).padStart(7)} us a token, in place ${row.inPlaceUs.toFixed(2).padStart(5)} us (${(row.copyUs / row.inPlaceUs).toFixed(0)}x)`);
  return row;
});
console.log(JSON.stringify({ bench: "token-copy", node: process.version, tokens, rounds, rows }));
