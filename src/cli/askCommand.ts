// `ask-codebase ask DIR "QUESTION"`: read a folder with Writing in the Margins and answer.
import { parseArgs } from "node:util";
import { DEFAULT_ANSWER_TOKENS, DEFAULT_MARGIN_TOKENS, WimSession } from "../core/wim/session";
import { CLASSIFY_MODES, type ClassifyMode } from "../core/wim/verdict";
import { chooseBackend, defaultBackendMemory } from "../engine/backend/backendChoice";
import type { GpuChoice } from "../engine/llama/runtime";
import { openLlamaEngine } from "../engine/llama/llamaEngine";
import { SERVER_KINDS, type ServerKind } from "../engine/server/serverApi";
import { openServerEngine } from "../engine/server/serverEngine";
import type { WimEngine } from "../core/wim/engine";
import { resolveModel } from "../engine/model/modelResolve";
import { openTokenizer } from "../engine/tokens/tokenizer";
import { folder, modelSpec, positiveInt, UsageError } from "./args";
import { bytes, int } from "./format";
import { CACHE_OPTIONS, cacheOf } from "./cacheCommand";
import { TerminalRenderer } from "./render";
import { planScope, SCOPE_OPTIONS, segmentTokensOf } from "./scope";

const GPUS: readonly GpuChoice[] = ["auto", "cuda", "vulkan", "metal", "cpu"];

export async function askCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      model: { type: "string" },
      gpu: { type: "string" },
      threads: { type: "string" },
      ...SCOPE_OPTIONS,
      "margin-tokens": { type: "string" },
      "answer-tokens": { type: "string" },
      classify: { type: "string" },
      "no-classify": { type: "boolean" },
      json: { type: "boolean" },
      ...CACHE_OPTIONS,
      "gpu-reserve-mib": { type: "string" },
      server: { type: "string" },
      "server-kind": { type: "string" },
      "server-model": { type: "string" },
    },
  });
  const root = await folder(positionals[0]);
  const question = positionals.slice(1).join(" ");
  if (!question.trim()) throw new UsageError('a question is required: ask-codebase ask DIR "QUESTION"');
  const gpu = (values.gpu ?? "auto") as GpuChoice;
  if (!GPUS.includes(gpu)) throw new UsageError(`--gpu must be one of ${GPUS.join(", ")}`);
  segmentTokensOf(values); // a bad --segment-tokens fails now, before any model loads
  const marginTokens = positiveInt(values["margin-tokens"], "--margin-tokens", DEFAULT_MARGIN_TOKENS);
  const answerTokens = positiveInt(values["answer-tokens"], "--answer-tokens", DEFAULT_ANSWER_TOKENS);
  const threads = values.threads === undefined ? undefined : positiveInt(values.threads, "--threads", 1);
  const gpuReserveMiB = values["gpu-reserve-mib"] === undefined ? 0 : positiveInt(values["gpu-reserve-mib"], "--gpu-reserve-mib", 0);
  const json = values.json ?? false;
  const cache = cacheOf(values);
  const classify = values["no-classify"] ? "off" : ((values.classify ?? "fused") as ClassifyMode);
  if (!CLASSIFY_MODES.includes(classify)) throw new UsageError(`--classify must be one of ${CLASSIFY_MODES.join(", ")}`);
  const serverKind = values["server-kind"] as ServerKind | undefined;
  if (serverKind && !SERVER_KINDS.includes(serverKind)) throw new UsageError(`--server-kind must be ${SERVER_KINDS.join(" or ")}`);
  if (!values.server && (serverKind || values["server-model"])) throw new UsageError("--server-kind and --server-model go with --server URL");
  const renderer = new TerminalRenderer(process.stdout, process.stderr);
  const note = (text: string): void => { if (!json) renderer.note(text); };

  const controller = new AbortController();
  let session: WimSession | undefined;
  let answering = false;
  const onSigint = (): void => {
    // First Ctrl-C while reading: answer from what has been read. Otherwise: stop.
    if (session && !answering && !controller.signal.aborted && !session.answerNowRequested) {
      session.answerNow();
      note("\nanswering from what has been read (Ctrl-C again to stop)");
    } else {
      controller.abort();
      note("\nstopping");
    }
  };
  process.on("SIGINT", onSigint);
  try {
    const spec = modelSpec(values.model);
    const modelPath = await resolveModel(spec, {
      signal: controller.signal,
      onProgress: (done, total) => note(`downloading ${spec}: ${bytes(done)} of ${bytes(total)}`),
    });
    // Planning (tokenizing every file) and loading the weights overlap.
    const tokenizer = await openTokenizer(modelPath);
    const openEngine = async (): Promise<WimEngine> => {
      // With --server the GGUF serves only for its tokenizer and chat template: the server runs the model.
      if (values.server) {
        const apiKey = process.env.ASK_CODEBASE_API_KEY;
        return openServerEngine({ url: values.server, modelPath, signal: controller.signal, ...(apiKey ? { apiKey } : {}), ...(serverKind ? { kind: serverKind } : {}), ...(values["server-model"] ? { model: values["server-model"] } : {}) });
      }
      const choice = await chooseBackend(gpu, modelPath, defaultBackendMemory(), { onStatus: note });
      return openLlamaEngine({ modelPath, gpu: choice.backend, signal: controller.signal, gpuReserveMiB, ...(choice.note ? { backendNote: choice.note } : {}), ...(threads ? { threads } : {}) });
    };
    const [engine, plan] = await Promise.all([
      openEngine(),
      planScope(root, values, tokenizer, controller.signal).finally(() => tokenizer.dispose()),
    ]);
    try {
      if (!plan.files.length) throw new UsageError(`nothing to read in ${root}${plan.skipped.length ? ` (${plan.skipped.length} files skipped)` : ""}`);
      if (plan.skipped.length) note(`skipped ${int(plan.skipped.length)} files: ${Object.entries(plan.skippedByReason).map(([r, n]) => `${r} ${n}`).join(", ")}`);
      session = new WimSession(engine, { segments: plan.segments, files: plan.files.length }, question, {
        marginTokens, answerTokens, classify, signal: controller.signal, ...(cache ? { cache } : {}),
      });
      let stopped = false;
      for await (const event of session.run()) {
        if (event.type === "answer-started") answering = true;
        if (event.type === "done") stopped = event.stoppedBy === "aborted";
        if (event.type === "error") process.exitCode = 1;
        if (json) process.stdout.write(JSON.stringify(event) + "\n");
        else renderer.handle(event);
      }
      return stopped ? 130 : (process.exitCode as number | undefined) ?? 0;
    } finally {
      await engine.dispose();
    }
  } catch (err) {
    if (controller.signal.aborted) return 130;
    throw err;
  } finally {
    process.off("SIGINT", onSigint);
  }
}
