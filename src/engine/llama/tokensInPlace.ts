// node-llama-cpp 3.21.1 keeps a sequence's tokens in an array that it replaces, on every decode, by
// a copy with the new tokens added (LlamaContextSequence._decodeTokens:
// `this._contextTokens = this._contextTokens.concat(tokensToDecode)`). A margin or answer token at
// depth 30k therefore copies 30k tokens, and past about 16k the copy is over V8's 128 KiB
// large-object line, so each one is also a fresh allocation outside the young generation: 0.15 ms
// a token at 16k and 0.25 ms at 30k on a 2-core machine (npm run bench:token-copy), and 0.28 ms
// more of node-llama-cpp's JavaScript a margin token at depth 30,720 than at 600 on the H200
// (bench:decode-parts). No option reaches that array; this gives the sequence a list whose concat
// appends in place.
//
// Why that is safe in 3.21.1 (read in dist/evaluator/LlamaContext/LlamaContext.js): concat's one
// caller assigns the result back to the same field; every other reader copies the array (slice,
// spread), reads it by index or length, or changes it in place (splice, length = 0); nothing keeps
// the old array expecting it to stay as it was. A node-llama-cpp whose sequence lacks the field
// is left alone, and test/engine/tokensInPlace.test.ts fails if the copy comes back.

const FIELD = "_contextTokens";

/** A token array whose concat appends to itself; what it derives (slice, splice, map) is a plain array. */
export class AppendInPlace extends Array<number> {
  static override get [Symbol.species](): ArrayConstructor {
    return Array;
  }

  override concat(...items: (number | ConcatArray<number>)[]): number[] {
    for (const item of items) {
      if (typeof item === "number") this.push(item);
      else for (let i = 0; i < item.length; i++) this.push(item[i]!);
    }
    return this;
  }
}

/** A copy of `items` as an AppendInPlace. */
export function appendInPlace(items: ArrayLike<number>): AppendInPlace {
  const list = new AppendInPlace();
  for (let i = 0; i < items.length; i++) list.push(items[i]!);
  return list;
}

/** Whether the engine should swap the list in: ASK_CODEBASE_TOKENS_IN_PLACE=off keeps node-llama-cpp's copy (for benchmarks). */
export function tokensInPlaceWanted(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.ASK_CODEBASE_TOKENS_IN_PLACE?.trim() !== "off";
}

/**
 * Gives `sequence` (a node-llama-cpp LlamaContextSequence) an AppendInPlace for its tokens, now
 * and whenever node-llama-cpp assigns a new array (a cleared history, a loaded state). Returns
 * whether it did: false where the sequence has no such array field.
 */
export function keepTokensInPlace(sequence: object): boolean {
  const own = Object.getOwnPropertyDescriptor(sequence, FIELD);
  if (!own || !("value" in own) || !Array.isArray(own.value)) return false;
  const wrap = (value: unknown): unknown => (value instanceof AppendInPlace || !Array.isArray(value) ? value : appendInPlace(value));
  let list = wrap(own.value);
  Object.defineProperty(sequence, FIELD, {
    configurable: true,
    enumerable: own.enumerable,
    get: () => list,
    set: (value: unknown) => {
      list = wrap(value);
    },
  });
  return true;
}

/** Whether `sequence` holds its tokens in an AppendInPlace (keepTokensInPlace gave it one). */
export function holdsTokensInPlace(sequence: object): boolean {
  return (sequence as Record<string, unknown>)[FIELD] instanceof AppendInPlace;
}
