// Entry point of the engine's process (forked by the extension or the CLI): messages in over IPC,
// one EngineService, messages out. If its host goes away, so does this process.
import type { FromEngine, ToEngine } from "../shared/engineProtocol";
import { availableParallelism } from "node:os";
import { settleAddonShim } from "../shared/addonShim";
import { EngineService } from "./service";

// Preloaded by the client: not into what this process starts, and in the mode for this machine.
settleAddonShim(process.env, availableParallelism());

const send = (message: FromEngine): void => {
  if (process.connected) process.send!(message);
};
const service = new EngineService(send);

process.on("message", (message: ToEngine) => {
  // Handled at once: control messages must reach a running question; the service orders the work.
  service.handle(message).then(
    () => { if (message.type === "shutdown") process.exit(0); },
    (err: unknown) => send({ type: "status", text: `engine error: ${(err as Error).message}` }),
  );
});
process.on("disconnect", () => process.exit(0));
// A terminal's Ctrl-C reaches the CLI's whole process group, this process too: the CLI decides
// what it means (answer now, then stop) and says so over IPC.
process.on("SIGINT", () => undefined);
send({ type: "ready", pid: process.pid });
