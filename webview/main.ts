// The Margins view. It renders what the extension sends and posts back what the user does; all
// model and file text goes into the DOM as text (see markdown.ts), never as markup.
import type { Citation } from "../src/core/wim/citations";
import type { WimEvent } from "../src/core/wim/events";
import type { FromWebview, RunHeader, ToWebview } from "../src/shared/webviewProtocol";
import { reveal } from "../src/core/reveal";
import { renderMarkdown } from "./markdown";

declare function acquireVsCodeApi(): { postMessage(message: FromWebview): void; getState(): unknown; setState(state: unknown): void };
const vscode = acquireVsCodeApi();
const post = (message: FromWebview): void => vscode.postMessage(message);

function el<K extends keyof HTMLElementTagNameMap>(tag: K, attrs: Record<string, string> = {}, ...children: (Node | string)[]): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}
const icon = (name: string): HTMLElement => el("span", { class: `codicon codicon-${name}`, "aria-hidden": "true" });
const fmt = (n: number): string => Math.round(n).toLocaleString("en-US");
const mib = (n: number): string => fmt(n / 1048576);
const secs = (s: number): string => (!Number.isFinite(s) ? "?" : s < 60 ? `${s.toFixed(s < 10 ? 1 : 0)} s` : `${Math.floor(s / 60)} min ${Math.round(s % 60)} s`);

// ── layout ──
const question = el("textarea", { id: "question", rows: "2", placeholder: "Ask about this codebase…", "aria-label": "Question" });
const askButton = el("button", { id: "ask", type: "submit", title: "Ask (Ctrl+Enter)" }, icon("send"), " Ask");
const form = el("form", { id: "ask-form" }, question, askButton);
const statusLine = el("div", { id: "status-line", role: "status", "aria-live": "polite" });
const bar = el("progress", { id: "progress", max: "1", value: "0", "aria-label": "Reading progress" });
const stopButton = el("button", { id: "stop", class: "secondary", title: "Stop reading and answering" }, icon("debug-stop"), " Stop");
const answerNowButton = el("button", { id: "answer-now", title: "Stop reading and answer from what has been read" }, icon("run-all"), " Answer now");
const controls = el("div", { class: "controls" }, stopButton, answerNowButton);
const progress = el("section", { id: "progress-section", hidden: "" }, bar, statusLine, controls);
const heading = el("h2", { id: "run-question" });
const margins = el("section", { id: "margins", "aria-label": "Margins" });
const answerBody = el("div", { id: "answer", "aria-live": "polite" });
const copyButton = el("button", { id: "copy", class: "secondary", title: "Copy the answer" }, icon("copy"), " Copy");
const reanswerButton = el("button", { id: "reanswer", title: "Answer again with the margins now kept" }, icon("refresh"), " Re-answer");
const answerSection = el("section", { id: "answer-section", hidden: "" }, el("h3", {}, "Answer"), answerBody, el("div", { class: "controls" }, copyButton, reanswerButton));
const errorBox = el("div", { id: "error", role: "alert", hidden: "" });
// The answer, once there is one, sits above the margins it came from.
document.body.append(form, progress, heading, errorBox, answerSection, margins);

// ── state ──
interface Card {
  details: HTMLDetailsElement; text: HTMLElement; verdict: HTMLElement; reject: HTMLButtonElement; citations: HTMLElement;
  raw: string; rejected: boolean; cited: Citation[];
}
let run: RunHeader | undefined;
const cards = new Map<number, Card>();
let answerText = "";
/** The answer's citations, as the engine resolved them: only these and the cards' sources become links. */
let answerCitations: Citation[] = [];
let active = false;
let answering = false;
/** From the engine: the kept margins differ from the last answer's, so a re-answer would say something new. */
let stale = false;

const saved = vscode.getState() as { draft?: string } | undefined;
question.value = saved?.draft ?? "";
question.addEventListener("input", () => vscode.setState({ draft: question.value }));

function fileLink(path: string, startLine: number, endLine: number, label?: string): HTMLButtonElement {
  const shown = reveal(path);
  const b = el("button", { class: "link source", title: `Open ${shown} at line ${startLine}`, "data-path": path, "data-start": String(startLine), "data-end": String(endLine) },
    label ?? (endLine !== startLine ? `${shown}:${startLine}-${endLine}` : `${shown}:${startLine}`));
  b.addEventListener("click", () => post({ type: "open", path, startLine, endLine }));
  return b;
}

/** A `path:line` the engine resolved (in a margin or the answer) or a file the run read, as a link; else text. */
function citationLink(path: string, startLine: number, endLine: number): HTMLElement | undefined {
  // Only files this run read can be linked: the extension checks again before opening anything.
  const resolved = [...answerCitations, ...[...cards.values()].flatMap((c) => c.cited)].find((c) => c.path === path || c.path.endsWith("/" + path));
  if (resolved) return fileLink(resolved.path, startLine, endLine);
  for (const card of cards.values()) {
    for (const s of card.details.querySelectorAll<HTMLElement>(".sources .source")) {
      const p = s.dataset.path!;
      if (p === path || p.endsWith("/" + path)) return fileLink(p, startLine, endLine);
    }
  }
  return undefined;
}

function refreshButtons(): void {
  const reading = active && !answering;
  progress.hidden = !run;
  stopButton.disabled = !active;
  answerNowButton.disabled = !reading;
  reanswerButton.disabled = active || !run || !stale;
  copyButton.disabled = !answerText;
  askButton.disabled = !question.value.trim();
}

function card(segment: number): Card {
  let c = cards.get(segment);
  if (c) return c;
  const verdict = el("span", { class: "verdict" });
  const reject = el("button", { class: "reject icon-button", "aria-pressed": "false", title: "Reject this margin (leave it out of the answer)" }, icon("close"));
  const text = el("div", { class: "margin-text" });
  const citations = el("div", { class: "citations" });
  const summary = el("summary", {}, el("span", { class: "segment-title" }, `Segment ${segment + 1}`), verdict);
  const details = el("details", { class: "margin", "data-segment": String(segment), open: "" }, summary, el("div", { class: "sources" }), text, citations);
  const entry: Card = { details, text, verdict, reject, citations, raw: "", rejected: false, cited: [] };
  reject.addEventListener("click", (e) => {
    e.preventDefault();
    setRejected(segment, !entry.rejected, true);
  });
  summary.append(reject);
  cards.set(segment, entry);
  const after = [...margins.children].find((n) => Number((n as HTMLElement).dataset.segment) > segment);
  margins.insertBefore(details, after ?? null);
  return entry;
}

function setRejected(segment: number, rejected: boolean, tell: boolean): void {
  const c = card(segment);
  c.rejected = rejected;
  c.details.classList.toggle("rejected", rejected);
  c.reject.setAttribute("aria-pressed", String(rejected));
  c.reject.replaceChildren(icon(rejected ? "discard" : "close"));
  c.reject.title = rejected ? "Restore this margin" : "Reject this margin (leave it out of the answer)";
  if (tell && run) post({ type: "reject", runId: run.runId, segment, rejected });
  refreshButtons();
}

function renderAnswer(): void {
  answerBody.replaceChildren(renderMarkdown(answerText, { link: citationLink }));
}

let answerFrame = 0;
function apply(event: WimEvent): void {
  if (!run || event.runId !== run.runId) return;
  switch (event.type) {
    case "run-started":
      active = true;
      statusLine.textContent = `Reading ${fmt(event.files)} files, ${fmt(event.tokens)} tokens in ${event.segments} segments${event.windows > 1 ? ` (${event.windows} windows)` : ""} · ${reveal(event.model)} on ${event.backend}${event.gpuNames.length ? ` (${event.gpuNames.join(", ")})` : ""}${event.backendNote ? `. ${event.backendNote}` : ""}${event.reusedSegments ? ` · ${event.reusedSegments} of ${event.segments} segments already read (warm cache)` : ""}` +
        (event.cacheNote ? ` · ${reveal(event.cacheNote)}` : "") +
        (event.changed?.length || event.removed?.length ? ` · since the summary: ${event.changed?.length ?? 0} files changed (read again), ${event.removed?.length ?? 0} gone` : "");
      break;
    case "window-started":
      statusLine.textContent = `Window ${event.window + 1} of ${event.windows}: the codebase is larger than the model's context, so each window is read after clearing the last; margins are kept`;
      break;
    case "segment-progress":
      bar.value = event.tokensRead / Math.max(1, event.totalTokens);
      statusLine.textContent = `${event.windows > 1 ? `Window ${event.window + 1}/${event.windows} · ` : ""}Segment ${event.segment + 1}/${event.segments} · ${fmt(event.tokensRead)}/${fmt(event.totalTokens)} tokens · ${fmt(event.tokensPerSecond)} tok/s · ~${secs(event.etaSeconds)} left`;
      break;
    case "margin-token": {
      const c = card(event.segment);
      c.raw += event.text;
      c.text.textContent = reveal(c.raw);
      c.details.classList.add("streaming");
      break;
    }
    case "margin-done": {
      const c = card(event.segment);
      c.raw = event.text;
      c.cited = event.citations;
      c.details.classList.remove("streaming");
      const sources = c.details.querySelector(".sources")!;
      sources.replaceChildren(...event.sources.map((s) => fileLink(s.path, s.startLine, s.endLine)));
      c.text.replaceChildren(event.text.trim() ? renderMarkdown(event.text, { link: citationLink }) : el("em", {}, "(nothing relevant)"));
      c.citations.replaceChildren(...(event.citations.length ? [el("span", { class: "label" }, "Cites "), ...event.citations.map((x) => fileLink(x.path, x.line, x.endLine))] : []));
      if (event.partial) c.verdict.textContent = "stopped early";
      break;
    }
    case "margin-classified": {
      const c = card(event.segment);
      c.verdict.textContent = event.relevant ? "relevant" : "not relevant";
      c.verdict.className = `verdict ${event.relevant ? "relevant" : "irrelevant"}`;
      // Folded away, but one click opens it.
      if (!event.relevant) c.details.open = false;
      break;
    }
    case "kept-changed":
      for (const [segment, c] of cards) if (c.rejected !== event.rejected.includes(segment)) setRejected(segment, !c.rejected, false);
      for (const segment of event.rejected) if (!cards.has(segment)) setRejected(segment, true, false);
      stale = event.stale;
      break;
    case "answer-started":
      answering = true;
      answerText = "";
      answerCitations = [];
      answerSection.hidden = false;
      statusLine.textContent = `Answering from ${event.marginIds.length} margins…`;
      renderAnswer();
      break;
    case "answer-token":
      answerText += event.text;
      if (!answerFrame) answerFrame = requestAnimationFrame(() => { answerFrame = 0; renderAnswer(); });
      break;
    case "done":
      active = false;
      answering = false;
      answerText = event.answer || answerText;
      answerCitations = event.citations;
      renderAnswer();
      bar.value = event.stoppedBy === "finished" ? 1 : bar.value;
      statusLine.textContent = `${event.stoppedBy === "finished" ? "Done" : event.stoppedBy === "answer-now" ? "Answered early" : "Stopped"} · ${event.segmentsRead} segments read in ${secs(event.timings.totalMs / 1000)}`;
      break;
    case "cache-saved":
      statusLine.textContent += event.error
        ? ` · not cached: ${event.error}`
        : event.bytes ? ` · cached for the next question (${mib(event.totalBytes)} of ${mib(event.limitBytes)} MiB used)` : " · too large for the cache limit";
      break;
    case "error":
      active = false;
      answering = false;
      errorBox.hidden = false;
      errorBox.textContent = reveal(event.message);
      break;
    default: {
      const never: never = event;
      throw new Error(`unknown event ${JSON.stringify(never)}`);
    }
  }
  refreshButtons();
}

function reset(header: RunHeader | undefined): void {
  run = header;
  cards.clear();
  margins.replaceChildren();
  answerText = "";
  answerCitations = [];
  stale = false;
  active = header?.active ?? false;
  answering = false;
  bar.value = 0;
  statusLine.textContent = "";
  errorBox.hidden = true;
  answerSection.hidden = true;
  heading.textContent = header ? reveal(header.question) : "";
  refreshButtons();
}

window.addEventListener("message", (e: MessageEvent<ToWebview>) => {
  const message = e.data;
  switch (message.type) {
    case "replay":
      reset(message.run);
      if (message.status) statusLine.textContent = message.status;
      for (const event of message.events) apply(event);
      renderAnswer();
      refreshButtons();
      break;
    case "event":
      apply(message.event);
      break;
    case "status":
      if (message.runId === run?.runId) statusLine.textContent = message.text;
      break;
    case "focus-question":
      question.focus();
      break;
    default: {
      const never: never = message;
      throw new Error(`unknown message ${JSON.stringify(never)}`);
    }
  }
});

form.addEventListener("submit", (e) => {
  e.preventDefault();
  if (question.value.trim()) post({ type: "ask", question: question.value.trim() });
});
question.addEventListener("keydown", (e) => {
  if (e.key === "Enter" && (e.ctrlKey || e.metaKey)) form.requestSubmit();
});
question.addEventListener("input", refreshButtons);
stopButton.addEventListener("click", () => run && post({ type: "stop", runId: run.runId }));
answerNowButton.addEventListener("click", () => run && post({ type: "answer-now", runId: run.runId }));
reanswerButton.addEventListener("click", () => run && post({ type: "reanswer", runId: run.runId }));
copyButton.addEventListener("click", () => post({ type: "copy", text: answerText }));

refreshButtons();
post({ type: "ready" });
