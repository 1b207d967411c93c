// How much a download or a save may still write before the disk is full.
import { statfs } from "node:fs/promises";

/** Free bytes for an unprivileged writer on the disk holding `directory`, if the system says. */
export async function freeBytes(directory: string): Promise<number | undefined> {
  try {
    const s = await statfs(directory);
    return s.bavail * s.bsize;
  } catch {
    return undefined;
  }
}
