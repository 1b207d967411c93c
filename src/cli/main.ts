// ask-codebase: the same pipeline as the extension, in a terminal.
import { DEFAULT_CACHE_MIB, defaultStateCacheDirectory } from "../core/cache/stateCache";
import { reveal } from "../core/reveal";
import { EngineRequestError } from "../client/engineClient";
import { NotACacheError } from "../core/cache/cacheFolder";
import { defaultBuildStoreDir } from "../engine/backend/cudaBuild";
import { ModelFileError } from "../engine/model/modelFile";
import { defaultModelDirectory } from "../shared/modelCatalog";
import { flagHelp } from "../shared/settings";
import { suggestedModel, UsageError, WorkFailed } from "./args";
import { askCommand, RunRefused } from "./askCommand";
import { buildCudaCommand } from "./buildCudaCommand";
import { cacheCommand } from "./cacheCommand";
import { packCommand } from "./packCommand";

const USAGE = `usage:
  ask-codebase ask DIR "QUESTION" [options] [--json] [--no-classify] [--cache-dir DIR]
  ask-codebase pack DIR [options] [--json]
  ask-codebase cache [--clear] [--cache-dir DIR] [--cache-mib N]
  ask-codebase build-cuda [--store DIR]

options:
${flagHelp()}

--model takes a GGUF path, an hf: URI or a URL; it defaults to $ASK_CODEBASE_MODEL, else to the
model suggested for this machine, here ${suggestedModel().option.label} (${suggestedModel().why}),
downloaded once into ${defaultModelDirectory()}.
After a question the codebase's model state is kept in ${defaultStateCacheDirectory()} (at most
--cache-mib, default ${DEFAULT_CACHE_MIB}; 0 turns it off), so the next question about it reads nothing again.
With --server, a llama-server or vLLM server runs the model ($ASK_CODEBASE_API_KEY is sent as its
key); --model then names a GGUF of the same model, for its tokenizer and chat template only.
build-cuda builds the CUDA backend from source for this machine's NVIDIA GPU (node-llama-cpp's own
build; needs the CUDA toolkit, git, npm and a C++ compiler) and keeps it in --store (default
${defaultBuildStoreDir()}); the next question tries CUDA again.
While reading, Ctrl-C answers from what has been read; Ctrl-C again stops, within a second.
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "ask":
      return askCommand(rest);
    case "pack":
      return packCommand(rest);
    case "build-cuda":
      return buildCudaCommand(rest);
    case "cache":
      await cacheCommand(rest);
      return 0;
    case "help":
    case "--help":
    case "-h":
    case undefined:
      process.stdout.write(USAGE);
      return command === undefined ? 2 : 0;
    default:
      throw new UsageError(`unknown command "${command}"\n${USAGE}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    // What the user can act on (status 2), and the engine's failures (status 1), in one line; a
    // stack only for a fault of this program's own.
    const usage = err instanceof UsageError || err instanceof RunRefused || err instanceof ModelFileError || err instanceof NotACacheError || (err as { code?: string })?.code?.startsWith("ERR_PARSE_ARGS");
    const engine = err instanceof EngineRequestError || err instanceof WorkFailed;
    const message = usage ? (err as Error).message : engine ? (err as Error).message.split("\n")[0]! : (err as Error)?.stack ?? String(err);
    process.stderr.write(`ask-codebase: ${reveal(message)}\n`);
    process.exitCode = usage ? 2 : 1;
  },
);
