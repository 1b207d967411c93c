// Splits a model's chat template around one user turn. A conversation is rendered with a sentinel
// as the user's message; what comes before it opens the conversation and the turn, what follows
// closes the turn and opens the assistant's reply. The template's parts keep their control tokens;
// everything we put between them is tokenized as plain text.
import type { ChatWrapper, LlamaModel, LlamaText as LlamaTextType, Token } from "node-llama-cpp";

const SENTINEL = "\u0001ask-codebase-user-turn\u0001";

type Lib = Pick<typeof import("node-llama-cpp"), "LlamaText" | "resolveChatWrapper">;

export interface TemplateSplitter {
  readonly wrapperName: string;
  parts(system: string): { prefix: Token[]; suffix: Token[] };
}

export function templateSplitter(lib: Lib, model: LlamaModel): TemplateSplitter {
  // resolveChatWrapper reads the GGUF's own template; without one it falls back to a plain
  // "### System / ### Human / ### Assistant" format (GeneralChatWrapper).
  const wrapper: ChatWrapper = lib.resolveChatWrapper(model);
  const cache = new Map<string, { prefix: Token[]; suffix: Token[] }>();
  return {
    wrapperName: wrapper.wrapperName,
    parts(system) {
      let parts = cache.get(system);
      if (!parts) {
        parts = split(lib, model, wrapper, system);
        cache.set(system, parts);
      }
      return { prefix: [...parts.prefix], suffix: [...parts.suffix] };
    },
  };
}

function split(lib: Lib, model: LlamaModel, wrapper: ChatWrapper, system: string): { prefix: Token[]; suffix: Token[] } {
  const { contextText } = wrapper.generateContextState({
    chatHistory: [
      { type: "system", text: system },
      { type: "user", text: SENTINEL },
      { type: "model", response: [] },
    ],
  });
  const before: LlamaTextType["values"][number][] = [];
  const after: LlamaTextType["values"][number][] = [];
  let found = false;
  for (const value of contextText.values) {
    if (!found && typeof value === "string" && value.includes(SENTINEL)) {
      const at = value.indexOf(SENTINEL);
      before.push(value.slice(0, at));
      after.push(value.slice(at + SENTINEL.length));
      found = true;
    } else (found ? after : before).push(value);
  }
  if (!found) throw new Error(`the chat template (${wrapper.wrapperName}) did not render the user's message`);
  const prefix = lib.LlamaText(before).tokenize(model.tokenizer);
  const suffix = lib.LlamaText(after).tokenize(model.tokenizer, "trimLeadingSpace");
  const bos = model.tokens.bos;
  if (bos != null && model.tokens.shouldPrependBosToken && prefix[0] !== bos) prefix.unshift(bos);
  return { prefix, suffix };
}
