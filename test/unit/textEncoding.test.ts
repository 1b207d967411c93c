// Files in other encodings than UTF-8 are read as an editor shows them; binary stays binary.
import { test } from "node:test";
import assert from "node:assert/strict";
import { decodeFile, encodingName, looksLikeText, tallyUtf8 } from "../../src/core/workspace/textEncoding";

const SOURCE = "// Größe: naïve café, 5 € — “quoted”\nfunction größe() { return 'ß'; }\r\n";

function utf16be(text: string): Buffer {
  return Buffer.from(text, "utf16le").swap16();
}

/** Seeded bytes, so that a failure names a case that can be run again. */
function noise(seed: number, length: number, withoutNul: boolean): Buffer {
  const out = Buffer.alloc(length);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < length; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out[i] = withoutNul ? 1 + (x % 255) : x & 0xff;
  }
  return out;
}

test("UTF-16 with a byte-order mark, little- and big-endian, reads as its text", () => {
  const le = decodeFile(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(SOURCE, "utf16le")]));
  assert.deepEqual(le, { text: SOURCE, encoding: "utf-16le", replaced: 0 });
  const be = decodeFile(Buffer.concat([Buffer.from([0xfe, 0xff]), utf16be(SOURCE)]));
  assert.deepEqual(be, { text: SOURCE, encoding: "utf-16be", replaced: 0 });
  // CJK text has almost no zero bytes: the mark alone says what it is.
  const cjk = "// 日本語のコメント\nconst 名前 = 1;\n";
  assert.equal(decodeFile(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(cjk, "utf16le")]))?.text, cjk);
});

test("UTF-16 without a byte-order mark is recognized by where its zero bytes fall", () => {
  assert.deepEqual(decodeFile(Buffer.from(SOURCE, "utf16le")), { text: SOURCE, encoding: "utf-16le", replaced: 0 });
  assert.deepEqual(decodeFile(utf16be(SOURCE)), { text: SOURCE, encoding: "utf-16be", replaced: 0 });
});

test("UTF-8 stays UTF-8, with or without its mark; stray bytes in it are replaced and counted", () => {
  assert.deepEqual(decodeFile(Buffer.from(SOURCE)), { text: SOURCE, encoding: "utf-8", replaced: 0 });
  assert.deepEqual(decodeFile(Buffer.from("\ufeff" + SOURCE)), { text: SOURCE, encoding: "utf-8", replaced: 0 });
  // A Latin-1 byte pasted into a UTF-8 file: the UTF-8 around it is kept, the byte replaced.
  const mixed = Buffer.concat([Buffer.from(SOURCE), Buffer.from([0xe9]), Buffer.from(" end\n")]);
  const got = decodeFile(mixed);
  assert.equal(got?.encoding, "utf-8");
  assert.equal(got?.replaced, 1);
  assert.equal(got?.text, SOURCE + "\ufffd end\n");
});

test("a legacy single-byte file reads in the fallback encoding: Windows-1252 unless told another", () => {
  const latin1 = Buffer.from(SOURCE.replace(/[€—“”]/g, "-"), "latin1");
  assert.deepEqual(decodeFile(latin1), { text: SOURCE.replace(/[€—“”]/g, "-"), encoding: "windows-1252", replaced: 0 });
  // Windows-1252's own letters in 0x80-0x9F: € — “ ”.
  const cp1252 = Buffer.from([0x80, 0x20, 0x97, 0x20, 0x93, 0x71, 0x94, 0x0a]);
  assert.equal(decodeFile(cp1252)?.text, "€ — “q”\n");
  // A leading 0xFF is a letter (ÿ), not half a byte-order mark.
  assert.equal(decodeFile(Buffer.from([0xff, 0x41, 0xe9, 0x0a]))?.text, "ÿAé\n");
  // Cyrillic in Windows-1251 ("Привет"), told so by the setting.
  const cyrillic = Buffer.from([0xcf, 0xf0, 0xe8, 0xe2, 0xe5, 0xf2, 0x0a]);
  assert.deepEqual(decodeFile(cyrillic, "windows1251"), { text: "Привет\n", encoding: "windows-1251", replaced: 0 });
  // Shift-JIS ("日本語"), told so with VS Code's id.
  const sjis = Buffer.concat([Buffer.from("// "), Buffer.from([0x93, 0xfa, 0x96, 0x7b, 0x8c, 0xea]), Buffer.from("\n")]);
  assert.deepEqual(decodeFile(sjis, "shiftjis"), { text: "// 日本語\n", encoding: "shift_jis", replaced: 0 });
  // Without the setting it is still read (in Windows-1252), not lost.
  assert.equal(decodeFile(sjis)?.encoding, "windows-1252");
});

test("binary stays binary: NULs, random bytes without a NUL, 16-bit tables, UTF-32", () => {
  assert.equal(decodeFile(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13])), undefined);
  for (let seed = 1; seed <= 300; seed++) {
    const length = 16 + ((seed * 7919) % 8000);
    assert.equal(decodeFile(noise(seed, length, false)), undefined, `noise seed ${seed}, ${length} bytes`);
    assert.equal(decodeFile(noise(seed, length, true)), undefined, `noise without NUL, seed ${seed}, ${length} bytes`);
  }
  // Small 16-bit numbers, little-endian: zeros in every odd byte, as in UTF-16 text.
  const table = Buffer.alloc(4096);
  for (let i = 0; i < 2048; i++) table.writeUInt16LE(1 + ((i * 37) % 250), 2 * i);
  assert.equal(decodeFile(table), undefined);
  assert.equal(decodeFile(Buffer.from(table).swap16()), undefined);
  // UTF-32 has no decoder here: it is left out rather than read as nonsense.
  const utf32 = Buffer.alloc(4 + 4 * 20);
  utf32.writeUInt32LE(0xfeff, 0);
  for (let i = 0; i < 20; i++) utf32.writeUInt32LE(0x61 + (i % 26), 4 + 4 * i);
  assert.equal(decodeFile(utf32), undefined);
});

test("what counts as text: a terminal log's escapes and form feeds do, a run of control bytes does not", () => {
  assert.ok(looksLikeText("\x1b[31merror\x1b[0m: failed\n\fpage two\n"));
  assert.ok(looksLikeText("x".repeat(200) + "\x01"));
  assert.ok(!looksLikeText("x".repeat(99) + "\x01\x02"));
  assert.deepEqual(tallyUtf8(Buffer.from("é€𝄞")), { sequences: 3, invalid: 0 });
  assert.deepEqual(tallyUtf8(Buffer.from([0xe9, 0x20, 0xc3, 0xa9, 0xff, 0xe2, 0x82])), { sequences: 1, invalid: 4 });
});

test("encoding names: WHATWG labels and VS Code's files.encoding ids; unknown ones are refused", () => {
  const cases: Record<string, string> = {
    "windows-1252": "windows-1252", windows1252: "windows-1252", iso88591: "windows-1252", latin1: "windows-1252",
    iso88592: "iso-8859-2", iso885915: "iso-8859-15", windows1251: "windows-1251", cp866: "ibm866", koi8r: "koi8-r",
    shiftjis: "shift_jis", Shift_JIS: "shift_jis", eucjp: "euc-jp", euckr: "euc-kr", gbk: "gbk", gb18030: "gb18030",
    big5hkscs: "big5", macroman: "macintosh", utf8bom: "utf-8", utf16le: "utf-16le",
  };
  for (const [label, name] of Object.entries(cases)) assert.equal(encodingName(label), name, label);
  for (const label of ["", "cp437", "nonsense", "utf-32"]) assert.equal(encodingName(label), undefined, label);
});
