// node --import tsx bench/buildViaEngine.ts STORE_DIR
// The CUDA build as the extension starts it: a request to the engine's process (dist/engineHost.js,
// so `npm run build` first), progress and the build's lines coming back over IPC; then the offer
// asked again. Used by bench/gpu-cuda-build.sh with BUILD_VIA=engine.
import { resolve } from "node:path";
import { EngineClient } from "../src/client/engineClient";

async function main(): Promise<void> {
  const store = process.argv[2];
  if (!store) throw new Error("usage: node --import tsx bench/buildViaEngine.ts STORE_DIR");
  const client = new EngineClient({ script: resolve("dist/engineHost.js"), onEvent: () => undefined });
  let lines = 0;
  let shown = -10;
  try {
    const started = performance.now();
    const built = await client.buildCuda(store, {
      onLine: () => lines++,
      onProgress: (p) => {
        if (p.percent !== undefined && p.percent < shown + 10) return;
        if (p.percent !== undefined) shown = p.percent;
        console.log(`${p.percent !== undefined ? `${p.percent}% ` : ""}${p.message}`);
      },
    });
    console.log(`built through the engine's process in ${built.seconds.toFixed(0)} s (request to answer ${((performance.now() - started) / 1000).toFixed(0)} s), kept in ${built.dir}; ${lines} lines of build output came over IPC`);
    console.log(`the offer now: ${JSON.stringify(await client.cudaOffer())}`);
  } finally {
    await client.dispose();
  }
}

main().catch((err) => {
  console.error(`buildViaEngine: ${(err as Error).message}`);
  process.exitCode = 1;
});
