// Run in a child process with the addon shim preloaded (test/engine/decodeAhead.test.ts): drives
// node-llama-cpp's addon directly, below its JavaScript API, through the orders of calls its
// evaluation never makes but a decode ahead must still survive: the outputs read again after a
// token was decoded ahead (with a memory read between, and without), and a different token decoded
// where one was decoded ahead. Prints every token sampled, the KV cache's end as read, and two
// verdict-like probability reads, as JSON: the same with the shim decoding ahead as without.
// Usage: node --import tsx test/support/aheadProbe.ts MODEL

interface Addon {
  initBatch(size: number): void;
  addToBatch(sequence: number, firstPosition: number, tokens: Uint32Array, logitIndexes: Uint32Array): Uint32Array;
  decodeBatch(): Promise<void>;
  sampleToken(logitIndex: number, sampler: unknown, probabilities?: boolean): Promise<number | [number, number[]]>;
  getSequenceKvCacheMaxPosition(sequence: number): number;
  removeTokenCellsFromSequence(sequence: number, start: number, end: number): boolean;
}

async function main(): Promise<void> {
  // node-llama-cpp is ESM only, and tsx runs this file as CommonJS.
  const { getLlama } = await import("node-llama-cpp");
  const llama = await getLlama({ gpu: false, build: "never" });
  const model = await llama.loadModel({ modelPath: process.argv[2]! });
  const context = await model.createContext({ contextSize: 512, sequences: 1 });
  const addon = (context as unknown as { _ctx: Addon })._ctx;
  const bindings = (llama as unknown as { _bindings: { AddonSampler: new (m: unknown) => { applyConfig(c: object): void } } })._bindings;
  const sampler = (config: object) => {
    const s = new bindings.AddonSampler((model as unknown as { _model: unknown })._model);
    s.applyConfig(config);
    return s;
  };
  const greedy = sampler({ temperature: 0 });
  const verdict = sampler({ temperature: 1, topK: 5, topP: 1, minP: 0, seed: 1 });
  let index = 0;
  const decode = async (position: number, tokens: number[]) => {
    addon.initBatch(tokens.length);
    [index] = addon.addToBatch(0, position, Uint32Array.from(tokens), Uint32Array.from([tokens.length - 1]));
    await addon.decodeBatch();
  };
  const next = async () => (await addon.sampleToken(index, greedy)) as number;
  const probabilities = async () => {
    const [, flat] = (await addon.sampleToken(index, verdict, true)) as [number, number[]];
    return flat.map((v, i) => (i % 2 ? Number(v.toFixed(6)) : v));
  };
  const seen: Record<string, unknown> = {};
  const prompt = model.tokenize("export const limit = 42; // the limit of reads");
  const n = prompt.length;
  seen.prompt = n;
  await decode(0, prompt);
  seen.g1 = await next();
  await decode(n, [seen.g1 as number]);
  seen.g2 = await next(); // decoded ahead at n + 1
  seen.endAfterAhead = addon.getSequenceKvCacheMaxPosition(0); // the decode ahead removed first
  seen.verdictAfterMemoryRead = await probabilities(); // outputs restored: g1's
  await decode(n + 1, [seen.g2 as number]);
  seen.g3 = await next(); // decoded ahead at n + 2
  seen.verdictWhileAhead = await probabilities(); // removed and restored: g2's
  seen.g4 = await next(); // the same outputs again: g3, decoded ahead at n + 2 once more
  const other = (seen.g4 as number) ^ 1;
  await decode(n + 2, [other]); // not the token decoded ahead
  seen.g5 = await next();
  await decode(n + 3, [seen.g5 as number]); // the one decoded ahead
  seen.g6 = await next();
  addon.removeTokenCellsFromSequence(0, n + 2, n + 4); // erased, with g6's decode ahead after it
  seen.endAfterErase = addon.getSequenceKvCacheMaxPosition(0);
  await decode(n + 2, [seen.g1 as number]);
  seen.g7 = await next();
  console.log(JSON.stringify(seen));
  await context.dispose();
  await model.dispose();
}

void main();
