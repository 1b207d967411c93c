// `ask-codebase ask DIR "QUESTION"`: the engine runs in a child process, as in the extension, so a
// native abort (a damaged model, a GPU fault) ends with one line rather than taking this process.
// Planning and the run go through the same plan-then-run contract; the CLI confirms nothing.
import { randomUUID } from "node:crypto";
import { EngineClient, EngineRequestError } from "../client/engineClient";
import type { WimEvent } from "../core/wim/events";
import type { PlanProgress } from "../shared/engineProtocol";
import { describeEstimate, describeOrder, describeSkipped, readNotes } from "../shared/describe";
import { folder, modelSource, parseFlags, runSettingsOf, settingsOf, suggestedModel, UsageError } from "./args";
import { defaultBackendMemory } from "../engine/backend/backendChoice";
import { offerOnce } from "../engine/backend/cudaBuild";
import { engineScript } from "./engineScript";
import { folderView } from "./folderView";
import { formatBytes } from "../core/bytes";
import { int } from "./format";
import { progressLine, TerminalRenderer } from "./render";

/** Flags the CLI has beyond the option table's. */
const ASK_FLAGS = { json: { type: "boolean" }, "no-classify": { type: "boolean" }, "cache-dir": { type: "string" } } as const;

/** A failure the user can act on (a model, an input, a server): status 2, like a usage error. */
export class RunRefused extends Error {
  override name = "RunRefused";
}

export async function askCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseFlags(argv, ASK_FLAGS);
  const root = await folder(positionals[0]);
  const question = positionals.slice(1).join(" ");
  if (!question.trim()) throw new UsageError('a question is required: ask-codebase ask DIR "QUESTION"');
  if (values["no-classify"] && values.classify !== undefined) throw new UsageError("--classify and --no-classify contradict each other: give one");
  const settings = settingsOf(values);
  if (values["no-classify"]) settings.classify = "off";
  if (!settings.serverUrl && (values["server-kind"] !== undefined || values["server-model"] !== undefined)) throw new UsageError("--server-kind and --server-model go with --server URL");
  const run = runSettingsOf(settings, values["cache-dir"] as string | undefined);
  const json = values.json === true;
  const renderer = new TerminalRenderer(process.stdout, process.stderr);
  const note = (text: string): void => { if (!json) renderer.note(text); };
  if (modelSource(values) === "the default model") {
    const s = suggestedModel();
    note(`no model given: using ${s.option.label}, suggested for this machine (${s.why}); --model chooses another`);
  }

  const runId = randomUUID();
  let finished: (event: WimEvent) => void = () => undefined;
  const ended = new Promise<WimEvent>((resolve) => (finished = resolve));
  let answering = false;
  let runRequested = false;
  let reading = false;
  let backend: string | undefined;
  const client = new EngineClient({
    ...engineScript(),
    onEvent: (event) => {
      if (event.runId !== runId) return;
      if (event.type === "run-started") {
        reading = true;
        backend = event.backend;
      }
      if (event.type === "answer-started") answering = true;
      if (json) process.stdout.write(JSON.stringify(event) + "\n");
      else renderer.handle(event);
      if (event.type === "done" || event.type === "error") finished(event);
    },
    // The engine's passing states (loading the model, probing a GPU): shown in place on a terminal, left out of logs.
    onStatus: (text) => { if (!json && process.stderr.isTTY) renderer.status(text); },
  });
  const planning = new AbortController();
  let interrupts = 0;
  const onSigint = (): void => {
    interrupts++;
    if (interrupts >= 2) {
      // Stop whatever runs, and be gone within a second whether or not the engine answers.
      planning.abort();
      client.control({ type: "stop", runId });
      note("\nstopping");
      setTimeout(() => {
        client.kill();
        process.exit(130);
      }, 800).unref();
    } else if (!reading) {
      // Planning, or the run asked for and not yet reading: either way nothing is read.
      planning.abort();
      if (runRequested) client.control({ type: "stop", runId });
      note("\nstopping (Ctrl-C again to quit at once)");
    } else if (!answering) {
      client.control({ type: "answer-now", runId });
      note("\nanswering from what has been read (Ctrl-C again to stop)");
    } else {
      client.control({ type: "stop", runId });
      note("\nstopping");
    }
  };
  process.on("SIGINT", onSigint);
  let downloaded: PlanProgress | undefined;
  try {
    const editor = await folderView(root, settings.useExcludeSettings, note);
    const summary = await client.plan([root], question, run, {
      signal: planning.signal, ...(editor ? { editor } : {}),
      onProgress: (p) => {
        if (json) return;
        // The download's last line, kept: a log without a terminal should say the model came whole.
        if (p.stage === "downloading") downloaded = p;
        else if (downloaded) {
          note(`downloaded the model: ${formatBytes(downloaded.total ?? downloaded.downloaded ?? 0)} into ${run.modelDirectory}`);
          downloaded = undefined;
        }
        renderer.status(progressLine(p));
      },
    }).catch((err: unknown) => {
      if (planning.signal.aborted) return undefined;
      if (err instanceof EngineRequestError && err.failure.kind !== "internal") {
        throw new RunRefused(err.failure.kind === "model" ? `${err.message}${modelSource(values) === "$ASK_CODEBASE_MODEL" ? " (from $ASK_CODEBASE_MODEL)" : ""}` : err.message.replace(/^nothing to read/, `nothing to read in ${root}`));
      }
      throw err;
    });
    // A Ctrl-C that came as the plan did still stops before the reading.
    if (!summary || planning.signal.aborted) return 130;
    note(`listed by ${summary.listing}; ${describeOrder(summary.order)}`);
    if (summary.estimate) note(`about ${int(summary.tokens)} tokens: ${describeEstimate(summary.estimate)}`);
    if (summary.skipped) note(`skipped ${int(summary.skipped)} files: ${describeSkipped(summary.skippedByReason)}`);
    for (const line of readNotes(summary, true)) note(line);
    runRequested = true;
    await client.run(runId, summary.planId);
    const end = await ended;
    // After the answer the codebase's state may still be saved (cache-saved): wait for the run to end.
    await client.whenRunEnded(runId);
    if (!json && backend && backend !== "cuda" && !settings.serverUrl && (settings.gpu === "auto" || settings.gpu === "cuda")) await offerCudaBuild(note);
    if (end.type === "error") return 1;
    return end.type === "done" && end.stoppedBy === "aborted" ? 130 : 0;
  } finally {
    process.off("SIGINT", onSigint);
    await client.dispose();
  }
}

/** Once per machine, where a CUDA build from source would run and CUDA does not yet: says how to build it. */
async function offerCudaBuild(note: (text: string) => void): Promise<void> {
  const offer = await offerOnce(defaultBackendMemory()).catch(() => undefined);
  if (offer?.offer) note(`${offer.message} "ask-codebase build-cuda" builds it.`);
}
