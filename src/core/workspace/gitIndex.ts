// Reads the paths git tracks from .git/index (versions 2 to 4), so the reader can include
// tracked files that an ignore rule also matches, exactly as `git ls-files --cached` does,
// without needing a git binary. Format: Documentation/gitformat-index.txt in git's source.
import { readFile } from "node:fs/promises";

const GITLINK = 0o160000;

export interface TrackedEntry { path: string; submodule: boolean }

export async function readGitIndex(gitDir: string, hashBytes = 20): Promise<TrackedEntry[] | undefined> {
  let buf: Buffer;
  try {
    buf = await readFile(`${gitDir}/index`);
  } catch {
    return undefined;
  }
  try {
    return parseGitIndex(buf, hashBytes);
  } catch {
    return undefined;
  }
}

export function parseGitIndex(buf: Buffer, hashBytes = 20): TrackedEntry[] {
  if (buf.toString("ascii", 0, 4) !== "DIRC") throw new Error("not a git index");
  const version = buf.readUInt32BE(4);
  if (version < 2 || version > 4) throw new Error(`unsupported git index version ${version}`);
  const count = buf.readUInt32BE(8);
  const entries: TrackedEntry[] = [];
  let pos = 12;
  let previous = "";
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
    // A conflicted path has stages 1-3; keep it once.
    if (stage <= 1) entries.push({ path, submodule: (mode & 0o170000) === GITLINK });
  }
  return entries;
}
