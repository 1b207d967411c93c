// Preloaded with --require into a measured process: writes its peak resident memory (KiB) to
// the file named by PEAK_RSS_FILE when it exits, so two tools are measured the same way.
const { writeFileSync } = require("node:fs");
process.on("exit", () => {
  if (process.env.PEAK_RSS_FILE) writeFileSync(process.env.PEAK_RSS_FILE, String(process.resourceUsage().maxRSS));
});
