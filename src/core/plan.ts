// What a question will cost before any model runs: files, tokens, segments, what was skipped.
import { assignSegments, checkBudget, measureFile, DEFAULT_SEGMENT_TOKENS, type CountTokens, type MeasuredFile, type PackedFile, type Segment } from "./pack/packer";
import type { WorkspaceFile } from "./workspace/reader";
import { countByReason, readWorkspace, type ReadOptions, type SkippedFile, type SkipReason } from "./workspace/reader";

export interface CodebasePlan {
  roots: string[];
  files: PackedFile[];
  segments: Segment[];
  skipped: SkippedFile[];
  skippedByReason: Partial<Record<SkipReason, number>>;
  totalTokens: number;
  segmentTokens: number;
  bytes: number;
}

export interface PlanOptions extends ReadOptions {
  segmentTokens?: number;
  countTokens: CountTokens;
  /** A faster way to measure many files (helper processes); defaults to countTokens on each file in turn. */
  measureFiles?: (files: readonly WorkspaceFile[], budget: number) => Promise<MeasuredFile[]>;
}

export async function planCodebase(roots: readonly string[], options: PlanOptions): Promise<CodebasePlan> {
  const segmentTokens = options.segmentTokens ?? DEFAULT_SEGMENT_TOKENS;
  checkBudget(segmentTokens);
  const read = await readWorkspace(roots, options);
  options.signal?.throwIfAborted();
  const measured = options.measureFiles
    ? await options.measureFiles(read.files, segmentTokens)
    : read.files.map((f) => measureFile(f, segmentTokens, options.countTokens));
  options.signal?.throwIfAborted();
  const packed = assignSegments(measured, segmentTokens);
  const skipped = [...read.skipped, ...packed.skipped];
  return {
    roots: [...roots],
    files: packed.files,
    segments: packed.segments,
    skipped,
    skippedByReason: countByReason(skipped),
    totalTokens: packed.totalTokens,
    segmentTokens,
    bytes: packed.files.reduce((n, f) => n + f.bytes, 0),
  };
}
