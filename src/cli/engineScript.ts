// Where the engine's entry point is: beside this bundle once built (dist/engineHost.js), or the
// TypeScript source when run through tsx (npm run ask, the tests).
import { existsSync } from "node:fs";
import { join } from "node:path";

export function engineScript(): { script: string; execArgv: string[]; addonShimDir: string } {
  const built = join(__dirname, "engineHost.js");
  if (existsSync(built)) return { script: built, execArgv: [], addonShimDir: __dirname };
  // From source, the compiled shim is the last build's, if there was one.
  return { script: join(__dirname, "..", "engine", "host.ts"), execArgv: ["--import", "tsx"], addonShimDir: join(__dirname, "..", "..", "dist") };
}
