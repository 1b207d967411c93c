// Reads the paths git tracks from an index file (versions 2 to 4), for the built-in reader: the
// fallback when no git binary answers (see gitListing.ts), so that tracked files an ignore rule
// also matches are read, as `git ls-files --cached` lists them. It notices what it cannot follow:
// a split index (its shared part lives in another file) and a sparse index (folded directories).
// Format: Documentation/gitformat-index.txt in git's source.
import { readFile } from "node:fs/promises";

const GITLINK = 0o160000;
const DIRECTORY = 0o040000;

export interface TrackedEntry { path: string; submodule: boolean }

export interface GitIndex {
  entries: TrackedEntry[];
  /** The "link" extension: most entries live in a shared index file this reader does not follow. */
  splitIndex: boolean;
  /** Sparse directory entries: whole directories folded into one entry. */
  sparseDirectories: boolean;
}

export async function readGitIndexFile(file: string, hashBytes = 20): Promise<GitIndex | undefined> {
  let buf: Buffer;
  try {
    buf = await readFile(file);
  } catch {
    return undefined;
  }
  try {
    return parseGitIndex(buf, hashBytes);
  } catch {
    return undefined;
  }
}

export function parseGitIndex(buf: Buffer, hashBytes = 20): GitIndex {
  if (buf.toString("ascii", 0, 4) !== "DIRC") throw new Error("not a git index");
  const version = buf.readUInt32BE(4);
  if (version < 2 || version > 4) throw new Error(`unsupported git index version ${version}`);
  const count = buf.readUInt32BE(8);
  const entries: TrackedEntry[] = [];
  let pos = 12;
  let previous = "";
  let sparse = false;
  for (let n = 0; n < count; n++) {
    const start = pos;
    const mode = buf.readUInt32BE(pos + 24);
    pos += 40 + hashBytes;
    const flags = buf.readUInt16BE(pos);
    pos += 2;
    if (version >= 3 && flags & 0x4000) pos += 2;
    const stage = (flags >> 12) & 3;
    let path: string;
    if (version === 4) {
      let strip = 0;
      let byte: number;
      // git's "offset" varint: each continuation adds one before shifting.
      byte = buf[pos++]!;
      strip = byte & 0x7f;
      while (byte & 0x80) { byte = buf[pos++]!; strip = ((strip + 1) << 7) | (byte & 0x7f); }
      const end = buf.indexOf(0, pos);
      path = previous.slice(0, previous.length - strip) + buf.toString("utf8", pos, end);
      pos = end + 1;
    } else {
      const end = buf.indexOf(0, pos);
      path = buf.toString("utf8", pos, end);
      pos = start + Math.ceil((end - start + 1) / 8) * 8;
    }
    previous = path;
    if ((mode & 0o170000) === DIRECTORY) { sparse = true; continue; }
    // A conflicted path has stages 1-3; keep it once.
    if (stage <= 1) entries.push({ path, submodule: (mode & 0o170000) === GITLINK });
  }
  // Extensions follow the entries: a 4-byte signature and a 4-byte length each, then the checksum.
  let splitIndex = false;
  while (pos + 8 <= buf.length - hashBytes) {
    const signature = buf.toString("latin1", pos, pos + 4);
    const size = buf.readUInt32BE(pos + 4);
    if (signature === "link") splitIndex = true;
    if (signature === "sdir") sparse = true;
    pos += 8 + size;
  }
  return { entries, splitIndex, sparseDirectories: sparse };
}
