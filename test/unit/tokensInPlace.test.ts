// The token list that node-llama-cpp's sequence appends to in place (engine/llama/tokensInPlace.ts),
// on its own: what node-llama-cpp 3.21.1 does with its `_contextTokens` field, done to a plain object.
import { test } from "node:test";
import assert from "node:assert/strict";
import { AppendInPlace, appendInPlace, holdsTokensInPlace, keepTokensInPlace, tokensInPlaceWanted } from "../../src/engine/llama/tokensInPlace";

test("concat appends to the list itself, arrays and single tokens alike, and returns it", () => {
  const list = appendInPlace([1, 2]);
  const same = list.concat([3, 4], 5, []);
  assert.equal(same, list);
  assert.deepEqual([...list], [1, 2, 3, 4, 5]);
});

test("what a list derives is a plain array, whose concat copies as before", () => {
  const list = appendInPlace([1, 2, 3, 4]);
  for (const derived of [list.slice(1), list.map((t) => t), list.filter(() => true), list.splice(2, 1)]) {
    assert.equal(derived instanceof AppendInPlace, false);
    assert.equal(Array.isArray(derived), true);
    const grown = derived.concat([9]);
    assert.notEqual(grown, derived);
  }
  assert.deepEqual([...list], [1, 2, 4]);
  assert.deepEqual([...list, 7], [1, 2, 4, 7]);
});

test("a sequence's field keeps one list across appends, and a new array assigned to it becomes one", () => {
  const seq = { _contextTokens: [] as number[] };
  assert.equal(holdsTokensInPlace(seq), false);
  assert.equal(keepTokensInPlace(seq), true);
  assert.equal(holdsTokensInPlace(seq), true);
  const first = seq._contextTokens;
  assert.ok(first instanceof AppendInPlace);
  // node-llama-cpp's own statement, once per decode.
  for (let t = 0; t < 50; t++) seq._contextTokens = seq._contextTokens.concat([t]);
  assert.equal(seq._contextTokens, first);
  assert.deepEqual([...seq._contextTokens], Array.from({ length: 50 }, (_, i) => i));
  seq._contextTokens.splice(10, 40);
  assert.equal(seq._contextTokens.length, 10);
  // A loaded state or a checkpoint's slice: a copy of it, which then appends in place too.
  const loaded = [7, 8, 9];
  seq._contextTokens = loaded;
  assert.ok(seq._contextTokens instanceof AppendInPlace);
  seq._contextTokens = seq._contextTokens.concat([10]);
  assert.deepEqual(loaded, [7, 8, 9]);
  assert.deepEqual([...seq._contextTokens], [7, 8, 9, 10]);
  seq._contextTokens.length = 0;
  assert.deepEqual([...seq._contextTokens], []);
  assert.deepEqual(Object.keys(seq), ["_contextTokens"]);
});

test("an object without such an array field is left as it is", () => {
  const none = { other: [] };
  assert.equal(keepTokensInPlace(none), false);
  assert.deepEqual(Object.getOwnPropertyNames(none), ["other"]);
  const notArray = { _contextTokens: "abc" };
  assert.equal(keepTokensInPlace(notArray), false);
  assert.equal(notArray._contextTokens, "abc");
  class Accessor { get _contextTokens(): number[] { return []; } }
  assert.equal(keepTokensInPlace(new Accessor()), false);
});

test("ASK_CODEBASE_TOKENS_IN_PLACE=off keeps node-llama-cpp's copy; anything else swaps the list in", () => {
  assert.equal(tokensInPlaceWanted({}), true);
  assert.equal(tokensInPlaceWanted({ ASK_CODEBASE_TOKENS_IN_PLACE: "on" }), true);
  assert.equal(tokensInPlaceWanted({ ASK_CODEBASE_TOKENS_IN_PLACE: " off " }), false);
});
