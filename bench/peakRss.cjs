// Preloaded (NODE_OPTIONS=--require) into a measured process and every Node process it starts:
// each appends "pid peak-resident-KiB" to PEAK_RSS_FILE when it exits. The benchmark adds them up,
// an upper bound on the tree's peak, so tools that fork helpers are not flattered.
const { appendFileSync } = require("node:fs");
process.on("exit", () => {
  if (process.env.PEAK_RSS_FILE) appendFileSync(process.env.PEAK_RSS_FILE, `${process.pid} ${process.resourceUsage().maxRSS}\n`);
});
