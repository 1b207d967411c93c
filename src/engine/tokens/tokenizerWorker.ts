// A child process that measures files with its own vocab-only copy of the model.
import { measureFile } from "../../core/pack/packer";
import { openTokenizer, type Tokenizer } from "./tokenizer";
import { shapeOf, type MeasureReply, type MeasureRequest } from "./tokenizerPool";

let tokenizer: Promise<Tokenizer> | undefined;

const reply = (r: MeasureReply): void => void process.send!(r);
// The parent going away (a crash, a kill) must not leave this process behind.
process.on("disconnect", () => process.exit(0));
process.on("message", async (msg: MeasureRequest) => {
  try {
    // Helpers exist only for vocabularies without a piece counter: no need to look for one.
    tokenizer ??= openTokenizer(msg.modelPath, { workers: 0, pieces: false });
    const t = await tokenizer;
    if (msg.id === -1) return reply({ id: -1, results: [] });
    const results = msg.files.map((f) => shapeOf(measureFile(f, msg.budget, t.countTokens, msg.keepTokens ? t.tokenize : undefined)));
    reply({ id: msg.id, results });
  } catch (err) {
    reply({ id: msg.id, error: (err as Error).message });
  }
});
