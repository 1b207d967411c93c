// What every part of the view builds with: elements made with text children only, codicons, the
// host's message port, and figures written the way the rest of the product writes them.
import type { FromWebview } from "../src/shared/webviewProtocol";

declare function acquireVsCodeApi(): { postMessage(message: FromWebview): void; getState(): unknown; setState(state: unknown): void };
export const host = acquireVsCodeApi();
export const post = (message: FromWebview): void => host.postMessage(message);

export function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}
export const icon = (name: string): HTMLElement => el("span", { class: `codicon codicon-${name}`, "aria-hidden": "true" });
export const fmt = (n: number): string => Math.round(n).toLocaleString("en-US");
export const secs = (s: number): string => (!Number.isFinite(s) ? "?" : s < 60 ? `${s.toFixed(s < 10 ? 1 : 0)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`);
