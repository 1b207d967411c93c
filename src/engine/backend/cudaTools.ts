// What building node-llama-cpp's CUDA backend from source needs on this machine, found the way
// the build itself would find it: an NVIDIA GPU to run it on, the CUDA toolkit's nvcc, and the
// programs node-llama-cpp's source build runs (git for the llama.cpp source, npm for cmake-js, a
// C++ compiler). Nothing here starts a build; it only looks.
import { execFile } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import { delimiter, join } from "node:path";

export interface CudaTools {
  /** nvcc's path; set as CUDACXX for the build when it is not on PATH, so CMake finds the same one. */
  nvcc: string;
  /** "12.4", from `nvcc --version`; undefined when it would not say. */
  version?: string;
  /** Programs the source build needs that are not on PATH ("git", "npm", "a C++ compiler"). */
  missing: string[];
}

const EXE = process.platform === "win32" ? ".exe" : "";

/** The first `name` on `PATH`, as a shell would find it. */
export function onPath(name: string, path = process.env.PATH ?? ""): string | undefined {
  const exts = process.platform === "win32" ? [".exe", ".cmd", ".bat", ""] : [""];
  for (const dir of path.split(delimiter).filter(Boolean)) {
    for (const ext of exts) {
      const file = join(dir, name + ext);
      if (existsSync(file)) return file;
    }
  }
  return undefined;
}

/** Where CUDA toolkits install when their bin folder is not on PATH. */
export function defaultToolkitDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  const named = [env.CUDA_PATH, env.CUDA_HOME, env.CUDA_ROOT].filter((d): d is string => !!d);
  if (process.platform === "win32") {
    const base = join(env.ProgramFiles ?? "C:\\Program Files", "NVIDIA GPU Computing Toolkit", "CUDA");
    const versions = existsSync(base) ? readdirSync(base).sort().reverse().map((v) => join(base, v)) : [];
    return [...named, ...versions];
  }
  return [...named, "/usr/local/cuda", "/opt/cuda"];
}

/** "12.4" from nvcc's "Cuda compilation tools, release 12.4, V12.4.131". */
export function parseNvccVersion(text: string): string | undefined {
  return /release (\d+\.\d+)/.exec(text)?.[1];
}

function run(file: string, args: string[], timeoutMs = 10_000): Promise<string | undefined> {
  return new Promise((resolve) => {
    execFile(file, args, { timeout: timeoutMs, windowsHide: true }, (err, stdout) => resolve(err ? undefined : stdout));
  });
}

/**
 * The CUDA toolkit and build programs here, or undefined when there is no nvcc at all. `env` and
 * `toolkitDirs` say where to look (CUDACXX, then PATH, then the toolkits' usual folders).
 */
export async function findCudaTools(env: NodeJS.ProcessEnv = process.env, toolkitDirs = defaultToolkitDirs(env)): Promise<CudaTools | undefined> {
  const path = env.PATH ?? env.Path ?? "";
  const candidates = [env.CUDACXX, onPath("nvcc", path), ...toolkitDirs.map((d) => join(d, "bin", `nvcc${EXE}`))];
  const nvcc = candidates.find((c): c is string => !!c && existsSync(c));
  if (!nvcc) return undefined;
  const version = parseNvccVersion((await run(nvcc, ["--version"])) ?? "");
  const missing: string[] = [];
  if (!onPath("git", path)) missing.push("git");
  if (!onPath("npm", path)) missing.push("npm");
  const compilers = process.platform === "win32" ? ["cl"] : ["c++", "g++", "clang++"];
  // On Windows, cl is on PATH only in a developer prompt; CMake finds Visual Studio itself.
  if (process.platform !== "win32" && !compilers.some((c) => onPath(c, path))) missing.push("a C++ compiler");
  return { nvcc, ...(version ? { version } : {}), missing };
}

/** The NVIDIA GPUs the driver lists (`nvidia-smi -L`), else those the Linux driver exposes; [] with none. */
export async function nvidiaGpus(env: NodeJS.ProcessEnv = process.env): Promise<string[]> {
  const smi = onPath("nvidia-smi", env.PATH ?? env.Path ?? "");
  const listed = smi ? await run(smi, ["-L"]) : undefined;
  const names = (listed ?? "").split("\n").map((l) => /^GPU \d+: (.+?)(?: \(UUID.*)?$/.exec(l.trim())?.[1]).filter((n): n is string => !!n);
  if (names.length) return names;
  const dir = "/proc/driver/nvidia/gpus";
  return existsSync(dir) ? readdirSync(dir).map((bus) => `NVIDIA GPU at ${bus}`) : [];
}
