// A worker thread that measures files with its own vocab-only copy of the model.
import { parentPort } from "node:worker_threads";
import { measureFile } from "../core/pack/packer";
import { openTokenizer } from "./tokenizer";
import { shapeOf, type MeasureReply, type MeasureRequest } from "./tokenizerPool";

const port = parentPort!;
let counting: Promise<(text: string) => number> | undefined;

port.on("message", async (msg: MeasureRequest) => {
  try {
    counting ??= openTokenizer(msg.modelPath, { workers: 0 }).then((t) => t.countTokens);
    const count = await counting;
    if (msg.id === -1) return void port.postMessage({ id: -1, results: [] } satisfies MeasureReply);
    const results = msg.files.map((f) => shapeOf(measureFile(f, msg.budget, count)));
    port.postMessage({ id: msg.id, results } satisfies MeasureReply);
  } catch (err) {
    port.postMessage({ id: msg.id, error: (err as Error).message } satisfies MeasureReply);
  }
});
