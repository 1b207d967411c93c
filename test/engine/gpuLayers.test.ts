// Out of GPU memory: a context that does not fit beside the model's layers gets fewer of them.
// Needs a Vulkan GPU, so it is skipped elsewhere (CI has none); on the GPU machine:
//   . .gpu/setup.sh && node --import tsx --test test/engine/gpuLayers.test.ts
import { test } from "node:test";
import assert from "node:assert/strict";
import { gpuNeedOf } from "../../src/engine/llama/gpuFit";
import { loadLlama } from "../../src/engine/llama/runtime";
import { noRealGpu } from "../../src/engine/backend/softwareGpu";
import { openLlamaEngine } from "../../src/engine/llama/llamaEngine";
import { testModelPath } from "../support/models";

const CONTEXT = 30_720;

test("a context too large for the GPU beside every layer runs with fewer layers, and the run says so", async (t) => {
  const llama = await loadLlama("vulkan").catch(() => undefined);
  if (!llama?.gpu || noRealGpu(await llama.getGpuDeviceNames())) {
    t.skip("no Vulkan GPU here");
    return;
  }
  const modelPath = testModelPath("0.5b");
  // What the whole model needs alone and with the context, from node-llama-cpp's estimates; then a
  // reserve that leaves room for the model and half the context.
  const model = await llama.loadModel({ modelPath, gpuLayers: 0 });
  const total = model.fileInsights.totalLayers;
  const weights = (await model.fileInsights.estimateModelResourceRequirementsV2({ gpuLayers: total })).gpuVram;
  const withContext = await gpuNeedOf(model.fileInsights, { contextSize: CONTEXT, sequences: 1, batchSize: 2048 })(total);
  await model.dispose();
  const free = (await llama.getVramState()).free;
  const reserveMiB = Math.floor((free - (weights + (withContext - weights) / 2)) / 1048576);

  const engine = await openLlamaEngine({ modelPath, gpu: "vulkan", gpuReserveMiB: reserveMiB });
  try {
    const [seq] = await engine.prepare({ tokensPerSequence: CONTEXT, sequences: 1 });
    assert.ok(engine.info.gpuLayers > 0 && engine.info.gpuLayers < total, `${engine.info.gpuLayers} of ${total} layers on the GPU`);
    assert.match(engine.info.backendNote ?? "", new RegExp(`^${engine.info.gpuLayers} of ${total} layers run on the GPU \\(vulkan\\), the rest on the CPU, more slowly: a context of 30,720 tokens did not fit`));
    // And it reads and writes at the far end of that context.
    const text = engine.tokenizeText("export const answer = 42;\n".repeat(4000)).slice(0, CONTEXT - 64);
    assert.equal(text.length, CONTEXT - 64);
    await seq!.append(text);
    const out: number[] = [];
    for await (const token of seq!.generate(engine.tokenizeText("\nanswer:"), { maxTokens: 8 })) out.push(token);
    assert.ok(out.length > 0, "tokens were generated");
    assert.ok(seq!.length > CONTEXT - 64, `the sequence holds ${seq!.length} tokens`);
  } finally {
    await engine.dispose();
  }
});
