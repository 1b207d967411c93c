// ask-codebase: the same pipeline as the extension, in a terminal.
import { DEFAULT_CACHE_MIB, defaultStateCacheDirectory } from "../core/cache/stateCache";
import { ContextTooSmallError } from "../core/wim/engine";
import { ModelFileError } from "../engine/model/modelFile";
import { ServerError } from "../engine/server/serverApi";
import { DEFAULT_MODEL, defaultModelDirectory } from "../engine/model/modelResolve";
import { UsageError } from "./args";
import { askCommand } from "./askCommand";
import { reveal } from "../core/reveal";
import { cacheCommand } from "./cacheCommand";
import { packCommand } from "./packCommand";

const USAGE = `usage:
  ask-codebase ask DIR "QUESTION" [--model FILE|hf:URI] [--gpu auto|cuda|vulkan|metal|cpu] [--gpu-reserve-mib N] [--threads N] [--segment-tokens N]
                   [--margin-tokens N] [--answer-tokens N] [--classify fused|separate|off] [--include GLOB]... [--exclude GLOB]... [--json]
                   [--cache-dir DIR] [--cache-mib N] [--server URL [--server-kind llama-server|vllm] [--server-model NAME]]
  ask-codebase pack DIR [--model FILE|hf:URI] [--segment-tokens N] [--include GLOB]... [--exclude GLOB]... [--json]
  ask-codebase cache [--clear] [--cache-dir DIR]

--model takes a GGUF path, an hf: URI or a URL; it defaults to $ASK_CODEBASE_MODEL, else to
${DEFAULT_MODEL}, downloaded once into ${defaultModelDirectory()}.
After a question the codebase's model state is kept in ${defaultStateCacheDirectory()} (at most
--cache-mib, default ${DEFAULT_CACHE_MIB}; 0 turns it off), so the next question about it reads nothing again.
With --server, a llama-server or vLLM server runs the model ($ASK_CODEBASE_API_KEY is sent as its
key); --model then names a GGUF of the same model, for its tokenizer and chat template only.
While reading, Ctrl-C answers from what has been read; Ctrl-C again stops.
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "ask":
      return askCommand(rest);
    case "pack":
      await packCommand(rest);
      return 0;
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
    const known = err instanceof UsageError || err instanceof ModelFileError || err instanceof ContextTooSmallError || err instanceof ServerError || (err as { code?: string })?.code?.startsWith("ERR_PARSE_ARGS");
    process.stderr.write(`ask-codebase: ${reveal(known ? (err as Error).message : (err as Error)?.stack ?? String(err))}\n`);
    process.exitCode = known ? 2 : 1;
  },
);
