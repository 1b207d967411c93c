// Turns a file's bytes into text the way an editor would, or says it is binary. UTF-8 is the rule,
// but real codebases also hold UTF-16 (Windows PowerShell and resource files, some C# projects) and
// legacy single-byte files (a Latin-1 comment in old C): dropped as binary, they would be lost to
// the model although any editor shows them. So: a byte-order mark decides; UTF-16 without one is
// recognized by where its zero bytes fall; a NUL left over means binary (git's rule); valid UTF-8
// is UTF-8; mostly-UTF-8 with stray bytes keeps its UTF-8 and replaces the strays; anything else is
// read in the fallback encoding (the user's, else Windows-1252, which maps every byte). Text that
// came by a guess must still look like text, or it is binary after all.

/** Bytes inspected for NULs, UTF-16 without a byte-order mark, and control characters. */
export const SNIFF_BYTES = 8192;
export const DEFAULT_FALLBACK_ENCODING = "windows-1252";

/** How a file was decoded, when not plain UTF-8. */
export interface Decoded {
  text: string;
  /** The decoder's name ("utf-8", "utf-16le", "windows-1252", ...). */
  encoding: string;
  /** Invalid bytes or sequences replaced by U+FFFD. */
  replaced: number;
}

// VS Code's `files.encoding` ids that are not also WHATWG labels, mapped to labels that are.
// cp437, cp850, cp852, cp865, cp1125 and koi8t have no WHATWG decoder: they are refused by name.
const VSCODE_IDS: Record<string, string> = {
  utf8bom: "utf-8", macroman: "macintosh", koi8r: "koi8-r", koi8u: "koi8-u", koi8ru: "koi8-u", iso885916: "iso-8859-16",
  cp950: "big5", big5hkscs: "big5", shiftjis: "shift_jis", eucjp: "euc-jp", euckr: "euc-kr",
};

/**
 * The decoder's name for a WHATWG label or a VS Code `files.encoding` id (`windows1252`, `iso88591`,
 * `shiftjis`), or undefined when there is no decoder for it here.
 */
export function encodingName(label: string): string | undefined {
  const l = label.trim().toLowerCase();
  if (!l) return undefined;
  const spaced = l.replace(/^(windows|koi8|utf)-?(\d+)/, "$1-$2").replace(/^iso-?8859-?(\d+)/, "iso-8859-$1");
  for (const candidate of [VSCODE_IDS[l], l, spaced]) {
    if (!candidate) continue;
    try {
      return new TextDecoder(candidate).encoding;
    } catch {
      // Not a label this runtime decodes; try the next spelling.
    }
  }
  return undefined;
}

/**
 * The file's text and how it was decoded, or undefined when it is binary. `declared` is the
 * encoding the repository gives the file (git's working-tree-encoding, an iconv name such as
 * SHIFT-JIS or UTF-16LE-BOM): it is used, but for a byte-order mark saying otherwise, when there
 * is a decoder for it.
 */
export function decodeFile(bytes: Uint8Array, fallback: string = DEFAULT_FALLBACK_ENCODING, declared?: string): Decoded | undefined {
  const bom = byteOrderMark(bytes);
  if (bom) {
    const text = decodeStrict(bytes.subarray(bom.length), bom.encoding);
    return text === undefined ? undefined : { text, encoding: bom.encoding, replaced: 0 };
  }
  const told = declared ? encodingName(declared.replace(/-?BOM$/i, "")) : undefined;
  if (told) return decodeLoose(bytes, told);
  const head = bytes.subarray(0, SNIFF_BYTES);
  const wide = utf16WithoutMark(head);
  if (wide) {
    const text = decodeStrict(bytes, wide);
    return text !== undefined && looksLikeText(text) ? { text, encoding: wide, replaced: 0 } : undefined;
  }
  if (head.includes(0)) return undefined;
  const utf8 = decodeStrict(bytes, "utf-8");
  if (utf8 !== undefined) return { text: utf8, encoding: "utf-8", replaced: 0 };
  const tally = tallyUtf8(bytes);
  const guessed: Decoded = tally.sequences > tally.invalid
    ? { text: new TextDecoder("utf-8").decode(bytes), encoding: "utf-8", replaced: tally.invalid }
    : decodeLoose(bytes, encodingName(fallback) ?? DEFAULT_FALLBACK_ENCODING);
  return looksLikeText(guessed.text) ? guessed : undefined;
}

function byteOrderMark(b: Uint8Array): { encoding: string; length: number } | undefined {
  if (b[0] === 0xef && b[1] === 0xbb && b[2] === 0xbf) return { encoding: "utf-8", length: 3 };
  // FF FE 00 00 opens UTF-32LE, which has no decoder: it falls through to the NUL check.
  if (b[0] === 0xff && b[1] === 0xfe && !(b[2] === 0 && b[3] === 0)) return { encoding: "utf-16le", length: 2 };
  if (b[0] === 0xfe && b[1] === 0xff) return { encoding: "utf-16be", length: 2 };
  return undefined;
}

/**
 * Text in UTF-16 has a zero in every other byte wherever it is ASCII, and almost never in the other
 * half; binary data puts zeros in both. A table of small 16-bit numbers looks the same, which the
 * text check after decoding turns away (its characters are mostly controls).
 */
function utf16WithoutMark(head: Uint8Array): "utf-16le" | "utf-16be" | undefined {
  const pairs = head.length >> 1;
  if (pairs < 2) return undefined;
  let evenZeros = 0;
  let oddZeros = 0;
  for (let i = 0; i < pairs * 2; i += 2) {
    if (head[i] === 0) evenZeros++;
    if (head[i + 1] === 0) oddZeros++;
  }
  if (oddZeros >= pairs * 0.3 && evenZeros <= pairs * 0.02) return "utf-16le";
  if (evenZeros >= pairs * 0.3 && oddZeros <= pairs * 0.02) return "utf-16be";
  return undefined;
}

// A decoder not streaming keeps no state between calls: one per encoding serves every file.
const strictDecoders = new Map<string, TextDecoder>();

function decodeStrict(bytes: Uint8Array, encoding: string): string | undefined {
  let decoder = strictDecoders.get(encoding);
  if (!decoder) strictDecoders.set(encoding, decoder = new TextDecoder(encoding, { fatal: true, ignoreBOM: true }));
  try {
    return decoder.decode(bytes);
  } catch {
    return undefined;
  }
}

function decodeLoose(bytes: Uint8Array, encoding: string): Decoded {
  const text = encoding === "windows-1252" ? decodeWindows1252(bytes) : new TextDecoder(encoding, { ignoreBOM: true }).decode(bytes);
  let replaced = 0;
  for (let i = text.indexOf("\ufffd"); i >= 0; i = text.indexOf("\ufffd", i + 1)) replaced++;
  return { text, encoding, replaced };
}

// WHATWG's windows-1252 at 0x80-0x9F; the five bytes it leaves as C1 controls are theirs.
const CP1252_HIGH = "€\x81‚ƒ„…†‡ˆ‰Š‹Œ\x8dŽ\x8f\x90‘’“”•–—˜™š›œ\x9džŸ";

/**
 * Windows-1252 by hand: Node's TextDecoder decodes it as Latin-1 since 20.18.3 and 22.13.0, giving
 * C1 controls for € and curly quotes (nodejs/node#60888), and with ignoreBOM it drops a leading
 * 0xFF. It is Latin-1 but for 32 bytes, so a table is all it takes.
 */
function decodeWindows1252(bytes: Uint8Array): string {
  const latin1 = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("latin1");
  return latin1.replace(/[\x80-\x9f]/g, (c) => CP1252_HIGH[c.charCodeAt(0) - 0x80]!);
}

/**
 * Well-formed multi-byte UTF-8 sequences against bytes that fit none. A file that is UTF-8 but for
 * a stray byte has many more of the first; a Latin-1 file has almost none, since an accented
 * letter there is a lone high byte before plain ASCII.
 */
export function tallyUtf8(b: Uint8Array): { sequences: number; invalid: number } {
  let sequences = 0;
  let invalid = 0;
  for (let i = 0; i < b.length;) {
    const c = b[i]!;
    if (c < 0x80) { i++; continue; }
    const follow = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : 0;
    let ok = follow > 0 && i + follow < b.length;
    for (let k = 1; ok && k <= follow; k++) ok = (b[i + k]! & 0xc0) === 0x80;
    if (ok) { sequences++; i += follow + 1; } else { invalid++; i++; }
  }
  return { sequences, invalid };
}

/**
 * At most one character in a hundred of the first block is a control character (other than tab,
 * line and page breaks, and escape, which terminal logs hold) or a C1 control. Random bytes decoded
 * as Windows-1252 have about one in nine. Replacement characters are not counted: a file reaches
 * them only by having more well-formed UTF-8 than stray bytes.
 */
export function looksLikeText(text: string): boolean {
  const sample = text.length > SNIFF_BYTES ? text.slice(0, SNIFF_BYTES) : text;
  let odd = 0;
  for (let i = 0; i < sample.length; i++) {
    const c = sample.charCodeAt(i);
    if ((c < 0x20 && c !== 0x09 && c !== 0x0a && c !== 0x0b && c !== 0x0c && c !== 0x0d && c !== 0x1b) || (c >= 0x7f && c <= 0x9f)) odd++;
  }
  return odd * 100 <= sample.length;
}
