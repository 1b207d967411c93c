// ask-codebase: the same pipeline as the extension, in a terminal.
import { ModelFileError } from "../engine/modelFile";
import { UsageError } from "./args";
import { packCommand } from "./packCommand";

const USAGE = `usage:
  ask-codebase pack DIR --model FILE [--segment-tokens N] [--include GLOB]... [--exclude GLOB]... [--json]
`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  switch (command) {
    case "pack":
      await packCommand(rest);
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
    const known = err instanceof UsageError || err instanceof ModelFileError || (err as { code?: string })?.code === "ERR_PARSE_ARGS_UNKNOWN_OPTION";
    process.stderr.write(`ask-codebase: ${known ? (err as Error).message : (err as Error)?.stack ?? String(err)}\n`);
    process.exitCode = known ? 2 : 1;
  },
);
