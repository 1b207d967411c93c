// Decides, from a file's name and its decoded first block, whether it is worth a model's attention.
import { globMatcher } from "./ignoreRules";
import { SNIFF_BYTES } from "./textEncoding";

export const DEFAULT_LOCKFILES = [
  "package-lock.json", "npm-shrinkwrap.json", "yarn.lock", "pnpm-lock.yaml", "bun.lockb", "Cargo.lock",
  "Gemfile.lock", "composer.lock", "poetry.lock", "Pipfile.lock", "uv.lock", "go.sum", "flake.lock", "*.lock",
];

export const DEFAULT_GENERATED = [
  "*.min.js", "*.min.css", "*.min.mjs", "*.map", "*.bundle.js", "*.chunk.js", "*.pb.go", "*_pb2.py", "*.pb.ts",
  "*.generated.*", "*.g.dart", "*.designer.cs",
];

/**
 * Data, not code: tables, logs, records, sequences, meshes. A large one would cost more of the
 * context than the code around it (a 1 MiB CSV is some 400,000 tokens) and tell little more than
 * its first lines do: its columns and a few rows. So of one larger than DATA_HEAD_BYTES only the
 * first DATA_HEAD_LINES lines are read, whatever its size.
 */
const DATA_EXTENSIONS = new Set([
  "csv", "tsv", "psv", "log", "jsonl", "ndjson", "geojson", "har", "fasta", "fa", "fastq", "fq", "vcf", "sam", "gff", "gff3", "gtf", "bed",
  "pdb", "xyz", "mtx", "arff", "dat", "obj", "stl", "ply", "gcode",
]);
export const DATA_HEAD_BYTES = 64 * 1024;
export const DATA_HEAD_LINES = 25;

export function isDataPath(path: string): boolean {
  const name = path.slice(Math.max(path.lastIndexOf("/"), path.lastIndexOf("\\")) + 1);
  const dot = name.lastIndexOf(".");
  return dot > 0 && DATA_EXTENSIONS.has(name.slice(dot + 1).toLowerCase());
}

/** A first block whose average line is longer than this is minified, not source to read. */
const MINIFIED_AVERAGE_LINE = 400;

export type ContentVerdict = "text" | "minified" | "generated" | "lfs-pointer";

export function nameMatchers(lockfiles: readonly string[], generated: readonly string[]): {
  lockfile: (path: string) => boolean;
  generated: (path: string) => boolean;
} {
  const never = (): boolean => false;
  return { lockfile: globMatcher(lockfiles) ?? never, generated: globMatcher(generated) ?? never };
}

/** Git LFS's pointer files: what a checkout holds in place of the content when it was not pulled. */
const LFS_POINTER = /^version https:\/\/(?:git-lfs\.github\.com|hawser\.github\.com)\/spec\/v1\noid [a-z0-9]+:[0-9a-f]+\nsize \d+\n/;

/** What decoded text is, from its first block: source to read, minified, generated, or an LFS pointer (its content elsewhere). */
export function textKind(text: string): ContentVerdict {
  // A pointer is under 1 KiB by the spec; thousands of them are thousands of lines of hashes.
  if (text.length < 1024 && LFS_POINTER.test(text)) return "lfs-pointer";
  const block = text.length > SNIFF_BYTES ? text.slice(0, SNIFF_BYTES) : text;
  const firstLines = block.slice(0, 1024);
  if (/\b(?:@generated|DO NOT EDIT|Code generated .* DO NOT EDIT|auto-generated)\b/i.test(firstLines) && /generated/i.test(firstLines)) return "generated";
  const newlines = block.split("\n").length;
  if (block.length >= 2048 && block.length / newlines > MINIFIED_AVERAGE_LINE) return "minified";
  return "text";
}

/**
 * Text as the model reads it: CRLF and a lone CR (classic Mac OS files) made LF, so that line
 * numbers are the editor's, which breaks lines at all three (the byte-order mark went with decoding).
 */
export function normalizeNewlines(text: string): string {
  return text.includes("\r") ? text.replace(/\r\n?/g, "\n") : text;
}
