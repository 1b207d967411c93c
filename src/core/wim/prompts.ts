// The words around the codebase. Everything here is plain text, tokenized with special tokens
// off like the files themselves; only the chat template's own parts carry control tokens.

export const READER_SYSTEM =
  "You are an expert software engineer reading a codebase to answer a question about it. " +
  "Be precise and cite the files you rely on as path:line.";

export const CODEBASE_INTRO =
  "Here is the codebase, file by file. Each file starts with a line \"### path (lines first-last)\".\n\n";

export function extractivePrompt(question: string): string {
  return (
    "\n---\nGiven the code above, extract only what is relevant to the question below, citing path:line. " +
    "If nothing above is relevant, say \"Nothing relevant.\"\nQuestion: " + question
  );
}

/** The fused variant: the margin opens with its own verdict, so an irrelevant one can stop there. */
export function fusedExtractivePrompt(question: string): string {
  return (
    "\n---\nQuestion: " + question +
    "\nDoes the code above hold anything relevant to the question? Reply yes or no first. " +
    "After yes, extract only what is relevant, citing path:line."
  );
}

export interface MarginForAnswer { segment: number; text: string }

export function answerPrompt(margins: readonly MarginForAnswer[], question: string): string {
  const notes = margins.length
    ? "Notes taken while reading:\n" + margins.map((m) => `[${m.segment + 1}] ${m.text.trim()}`).join("\n") + "\n\n"
    : "";
  return "\n---\n" + notes + "Using the codebase and the notes, answer the question. Cite files as path:line.\nQuestion: " + question;
}

export const CLASSIFIER_SYSTEM = "You judge whether a note helps answer a question. Reply with yes or no.";

export function classifierHead(question: string): string {
  return "Question: " + question + "\n\nNote: ";
}

export const CLASSIFIER_TAIL = "\n\nDoes the note hold information relevant to the question? Answer yes or no.";

export const VERDICT_WORDS = { yes: ["yes", "Yes", "YES"], no: ["no", "No", "NO"] } as const;
