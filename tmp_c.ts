import { TokenizerPool } from "./src/engine/tokenizerPool";
import { openLlamaEngine } from "./src/engine/llamaEngine";
(async () => {
  const pool = new TokenizerPool("/tmp/m/tiny.gguf", 2);
  const e = await openLlamaEngine({ modelPath: "/tmp/m/tiny.gguf", gpu: "auto" });
  await pool.dispose(); await e.dispose(); console.log("ok");
})();
