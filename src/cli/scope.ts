// What both `ask` and `pack` read, and how: the shared flags and the plan they lead to.
import { DEFAULT_SEGMENT_TOKENS } from "../core/pack/packer";
import { planCodebase, type CodebasePlan } from "../core/plan";
import type { Tokenizer } from "../engine/tokens/tokenizer";
import { positiveInt } from "./args";

export const SCOPE_OPTIONS = {
  "segment-tokens": { type: "string" },
  include: { type: "string", multiple: true },
  exclude: { type: "string", multiple: true },
  "no-gitignore": { type: "boolean" },
} as const;

export interface ScopeValues { "segment-tokens"?: string; include?: string[]; exclude?: string[]; "no-gitignore"?: boolean }

export function segmentTokensOf(values: ScopeValues): number {
  return positiveInt(values["segment-tokens"], "--segment-tokens", DEFAULT_SEGMENT_TOKENS);
}

/** Reads and packs `root` as the flags say, counting with the model's tokenizer (in helper processes when large). */
export function planScope(root: string, values: ScopeValues, tokenizer: Tokenizer, signal?: AbortSignal): Promise<CodebasePlan> {
  return planCodebase([root], {
    segmentTokens: segmentTokensOf(values),
    countTokens: tokenizer.countTokens,
    measureFiles: tokenizer.measureFiles,
    onSize: tokenizer.prewarm,
    include: values.include ?? [],
    exclude: values.exclude ?? [],
    respectGitignore: !values["no-gitignore"],
    order: "recent-last",
    ...(signal ? { signal } : {}),
  });
}
