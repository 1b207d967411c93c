// Decides, from a file's name and first bytes, whether it is worth a model's attention.
import { globMatcher } from "./ignoreRules";

export const DEFAULT_LOCKFILES = [
  "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "bun.lockb", "Cargo.lock",
  "Gemfile.lock", "composer.lock", "poetry.lock", "Pipfile.lock", "uv.lock", "go.sum", "flake.lock", "*.lock",
];

export const DEFAULT_GENERATED = [
  "*.min.js", "*.min.css", "*.min.mjs", "*.map", "*.bundle.js", "*.chunk.js", "*.pb.go", "*_pb2.py", "*.pb.ts",
  "*.generated.*", "*.g.dart", "*.designer.cs",
];

/** Bytes inspected for the binary, minified and generated checks. */
export const SNIFF_BYTES = 8192;
/** A first block whose average line is longer than this is minified, not source to read. */
const MINIFIED_AVERAGE_LINE = 400;

export type ContentVerdict = "text" | "binary" | "minified" | "generated";

export function nameMatchers(lockfiles: readonly string[], generated: readonly string[]): {
  lockfile: (path: string) => boolean;
  generated: (path: string) => boolean;
} {
  const never = (): boolean => false;
  return { lockfile: globMatcher(lockfiles) ?? never, generated: globMatcher(generated) ?? never };
}

/** Looks at the first block of a file: NUL bytes or invalid UTF-8 mean binary. */
export function sniff(head: Uint8Array): ContentVerdict {
  const block = head.subarray(0, SNIFF_BYTES);
  if (block.includes(0)) return "binary";
  let text: string;
  try {
    // `stream: true` tolerates a multi-byte character cut by the block's end.
    text = new TextDecoder("utf-8", { fatal: true }).decode(block, { stream: block.length < head.length });
  } catch {
    return "binary";
  }
  const firstLines = text.slice(0, 1024);
  if (/\b(?:@generated|DO NOT EDIT|Code generated .* DO NOT EDIT|auto-generated)\b/i.test(firstLines) && /generated/i.test(firstLines)) return "generated";
  const newlines = text.split("\n").length;
  if (text.length >= 2048 && text.length / newlines > MINIFIED_AVERAGE_LINE) return "minified";
  return "text";
}

/** Decodes a file's bytes as UTF-8 (BOM dropped, CRLF made LF); invalid bytes past the first block become U+FFFD. */
export function decodeText(bytes: Uint8Array): string {
  let text = new TextDecoder("utf-8").decode(bytes);
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  return text.includes("\r\n") ? text.replace(/\r\n/g, "\n") : text;
}
