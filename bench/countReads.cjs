// Preloaded (--require) into the engine's process by bench/firstMargin.ts: counts how often each
// file under COUNT_READS_ROOT is opened for reading, and writes "count path" lines to
// COUNT_READS_FILE when asked (SIGUSR2) and at exit. It measures from outside, so it counts the
// same way in any version of the engine.
const fs = require("node:fs");
const root = process.env.COUNT_READS_ROOT;
const counts = new Map();
const note = (path) => {
  const p = String(path);
  if (root && p.startsWith(root)) counts.set(p, (counts.get(p) ?? 0) + 1);
};
const wrap = (owner, name) => {
  const original = owner[name];
  owner[name] = function (path, ...rest) {
    note(path);
    return original.call(this, path, ...rest);
  };
};
wrap(fs.promises, "readFile");
wrap(fs.promises, "open");
wrap(fs, "readFileSync");
wrap(fs, "openSync");
const write = () => {
  if (process.env.COUNT_READS_FILE) fs.writeFileSync(process.env.COUNT_READS_FILE, [...counts].map(([p, n]) => `${n} ${p}`).join("\n") + "\n");
};
process.on("SIGUSR2", write);
process.on("exit", write);
