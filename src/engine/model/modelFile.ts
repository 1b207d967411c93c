// Checks a model path before node-llama-cpp sees it, so a user gets a one-line reason ("no such
// file", "not a GGUF file", "cut short") instead of a native loader's message, or its abort.
import { open, stat } from "node:fs/promises";
import { checkGgufStructure, GgufProblem } from "./ggufCheck";

export class ModelFileError extends Error {
  override name = "ModelFileError";
}

/** The first `n` bytes of a file (fewer if it is shorter). */
export async function readHead(path: string, n: number): Promise<Buffer> {
  const fh = await open(path, "r");
  try {
    const head = Buffer.alloc(n);
    const { bytesRead } = await fh.read(head, 0, n, 0);
    return head.subarray(0, bytesRead);
  } finally {
    await fh.close();
  }
}

export async function checkModelFile(path: string): Promise<{ bytes: number }> {
  let st;
  try {
    st = await stat(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ModelFileError(code === "ENOENT" ? `model not found: ${path}` : `cannot read model ${path}: ${code}`);
  }
  if (!st.isFile()) throw new ModelFileError(`model is not a file: ${path}`);
  let head: Buffer;
  try {
    head = await readHead(path, 8);
  } catch (err) {
    throw new ModelFileError(`cannot read model ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  if (head.toString("ascii", 0, 4) !== "GGUF") throw new ModelFileError(`not a GGUF model file: ${path}`);
  const version = head.readUInt32LE(4);
  if (version < 2 || version > 3) throw new ModelFileError(`unsupported GGUF version ${version}: ${path}`);
  try {
    await checkGgufStructure(path);
  } catch (err) {
    if (err instanceof GgufProblem) throw new ModelFileError(`the model file is damaged or not one llama.cpp can read: ${err.message}: ${path}`);
    throw new ModelFileError(`cannot read model ${path}: ${(err as NodeJS.ErrnoException).code ?? err}`);
  }
  return { bytes: st.size };
}
