// The task-trained model's fixture and how the tests read with it: one place for the engine test
// (test/engine/fidelityModel.test.ts) and the e2e flow (test/e2e/fidelityFlow.mjs).
import { join } from "node:path";

/** bench/fidelity's run 10 as Q4_0 (3.4 MiB); the README's Answer fidelity commands rebuild it. */
export const FIDELITY_FIXTURE = join(__dirname, "../fixtures/fidelity-q4_0.gguf");
/** Held-out seeds (training used seeds below 100M; the benchmark's start at 900M); the e2e asks the first. */
export const FIDELITY_SEEDS = [950_000_000, 950_000_001, 950_000_002, 950_000_003];
/** The extension's settings for these reads: 256-token segments (several cards), the fused verdict, room for "VALUE (path:line)". */
export const FIDELITY_SETTINGS = { classify: "fused", segmentTokens: 256, marginTokens: 48, answerTokens: 64 } as const;
