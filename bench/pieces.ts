// npm run bench:pieces -- DIR --model FILE [--segment-tokens N]
// Tokenizes every chunk the packer cuts from DIR twice, in this one process: by pieces (the way
// planning does) and whole, by llama.cpp (the way the engine would). Prints how the text fell into
// pieces, both times and their ratio, and how many chunks disagree in any token: any disagreement
// is a bug, and makes the exit status 1.
import { parseArgs } from "node:util";
import { measureFile } from "../src/core/pack/packer";
import { readWorkspace } from "../src/core/workspace/reader";
import { readVocabulary } from "../src/engine/tokens/ggufVocab";
import { loadLlama } from "../src/engine/llama/runtime";
import { countingFor } from "../src/engine/tokens/pieceCounter";
import { bpePieceTokenizer } from "../src/engine/tokens/bpePieces";
import { chunkTokenizer } from "../src/engine/tokens/tokenizer";

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { model: { type: "string" }, "segment-tokens": { type: "string" } } });
  const dir = positionals[0];
  if (!dir || !values.model) throw new Error("usage: npm run bench:pieces -- DIR --model FILE [--segment-tokens N]");
  const budget = Number(values["segment-tokens"] ?? 4096);
  const counting = countingFor(await readVocabulary(values.model));
  if ("why" in counting) throw new Error(`no piece counting for this model: ${counting.why}`);
  const model = await (await loadLlama("cpu")).loadModel({ modelPath: values.model, vocabOnly: true });
  const tokenize = chunkTokenizer(model);
  const counter = "spm" in counting ? counting.spm : bpePieceTokenizer(model, tokenize, counting.bpe);
  const { files } = await readWorkspace([dir]);

  // Each pass sees the same chunks: measureFile cuts them the same way whatever counts them.
  const chunks: string[] = [];
  const made: Int32Array[] = [];
  let started = performance.now();
  let piecesTotal = 0;
  const byPieces = (t: string): Int32Array => { chunks.push(t); const ids = counter.tokens(t); made.push(ids); piecesTotal += ids.length; return ids; };
  for (const f of files) measureFile(f, budget, (t) => counter.count(t), byPieces);
  const piecesS = (performance.now() - started) / 1000;
  const stats = { ...counter.stats };
  started = performance.now();
  const expected = chunks.map((t) => tokenize(t));
  const wholeS = (performance.now() - started) / 1000;
  const differs = (a: Int32Array, b: number[]): boolean => a.length !== b.length || a.some((t, i) => t !== b[i]);
  const wrong = chunks.filter((_, i) => differs(made[i]!, expected[i]!));
  const chars = chunks.reduce((n, t) => n + t.length, 0);
  // Chunks as measureFile tokenizes them: a cut file's headers are tokenized more than once.
  console.log(`${files.length} files, ${chunks.length} chunks tokenized, ${(chars / 1e6).toFixed(1)} M characters, ${expected.reduce((a, b) => a + b.length, 0).toLocaleString("en-US")} tokens in them (${"spm" in counting ? "SentencePiece" : `BPE, ${counting.bpe} pre-tokenizer`})`);
  console.log(`pieces: ${stats.pieces.toLocaleString("en-US")}, tokenized: ${stats.counted.toLocaleString("en-US")} (${((100 * stats.countedChars) / chars).toFixed(1)}% of the characters)`);
  console.log(`by pieces ${piecesS.toFixed(2)} s, whole ${wholeS.toFixed(2)} s: ${(piecesS / wholeS).toFixed(2)}x; chunks whose tokens differ: ${wrong.length}`);
  for (const t of wrong.slice(0, 3)) console.log(`  ${JSON.stringify(t.slice(0, 120))}`);
  console.log(JSON.stringify({ files: files.length, chunks: chunks.length, chars, tokens: piecesTotal, pieces: stats.pieces, counted: stats.counted, countedChars: stats.countedChars, piecesS, wholeS, disagree: wrong.length }));
  await model.dispose();
  if (wrong.length) process.exitCode = 1;
}

main().catch((err) => {
  console.error(`bench:pieces: ${(err as Error).message}`);
  process.exitCode = 1;
});
