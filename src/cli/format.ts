// Human-readable figures for terminal output.
export function int(n: number): string {
  return Math.round(n).toLocaleString("en-US");
}


export function seconds(s: number): string {
  if (!Number.isFinite(s)) return "?";
  if (s < 60) return `${s.toFixed(s < 10 ? 1 : 0)} s`;
  return `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`;
}
