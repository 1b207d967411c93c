// One way to say a size, wherever a user reads one (the CLI, the view, messages, the note a packed
// data file carries): binary units, as the settings that take sizes count them (cacheSizeMiB,
// maxFileKiB), and at most three figures, so that two sizes in one sentence compare at a glance.
const UNITS = ["KiB", "MiB", "GiB", "TiB"];

/** "812 bytes", "4.2 KiB", "334 MiB", "1.5 GiB". */
export function formatBytes(n: number): string {
  if (!Number.isFinite(n) || n < 1024) {
    const whole = Math.max(0, Math.round(Number.isFinite(n) ? n : 0));
    return `${whole} ${whole === 1 ? "byte" : "bytes"}`;
  }
  let value = n / 1024;
  let unit = 0;
  // 1023.6 KiB would print as "1024 KiB": step up before rounding does.
  while (value >= 1023.5 && unit < UNITS.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${value < 9.95 ? value.toFixed(1) : Math.round(value)} ${UNITS[unit]}`;
}
