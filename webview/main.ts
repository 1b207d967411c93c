// The Margins view. It renders what the extension sends and posts back what the user does; all
// model and file text goes into the DOM as text (see markdown.ts), never as markup.
import type { Citation } from "../src/core/wim/citations";
import type { WimEvent } from "../src/core/wim/events";
import type { ModelInfo, RunHeader, ToWebview } from "../src/shared/webviewProtocol";
import { describeCoverage } from "../src/shared/describe";
import { reveal } from "../src/core/reveal";
import { Cards, fileLink } from "./cards";
import { formatBytes } from "../src/core/bytes";
import { el, fmt, host, icon, post, secs } from "./dom";
import { Follower } from "./follow";
import { historySection, showHistory } from "./history";
import { renderMarkdown } from "./markdown";

// ── layout ──
const question = el("textarea", { id: "question", rows: "2", placeholder: "Ask about this codebase… (Enter sends, Shift+Enter adds a line)", "aria-label": "Question" });
const askButton = el("button", { id: "ask", type: "submit", title: "Ask (Enter)" }, icon("send"), " Ask");
const form = el("form", { id: "ask-form" }, question, askButton);
const modelText = el("span", { id: "model-text" });
const chooseModel = el("button", { id: "choose-model", class: "link", title: "Choose the model that reads the codebase" }, "Choose a model…");
const modelLine = el("div", { id: "model-line" }, modelText, chooseModel);
const statusLine = el("div", { id: "status-line", role: "status", "aria-live": "polite" });
const bar = el("progress", { id: "progress", max: "1", "aria-label": "Reading progress" });
const stopButton = el("button", { id: "stop", class: "secondary", title: "Stop planning, reading or answering" }, icon("debug-stop"), " Stop");
const answerNowButton = el("button", { id: "answer-now", title: "Stop reading and answer from what has been read" }, icon("run-all"), " Answer now");
const likelyText = el("span", { id: "likely-text" });
const likelyAnswerNow = el("button", { id: "likely-answer-now", title: "Stop reading and answer from what has been read" }, icon("run-all"), " Answer now");
const likely = el("div", { id: "likely", role: "status", hidden: "" }, icon("lightbulb"), likelyText, likelyAnswerNow);
const controls = el("div", { class: "controls" }, stopButton, answerNowButton);
const progress = el("section", { id: "progress-section", hidden: "" }, bar, statusLine, likely, controls);
const heading = el("h2", { id: "run-question" });
// What planning found (files, tokens, what was skipped and why): stays while the run goes on.
const readLine = el("div", { id: "read-line" });
const answerBody = el("div", { id: "answer", "aria-live": "polite" });
const coverageLine = el("div", { id: "coverage" });
const answerNotes = el("div", { id: "answer-notes", hidden: "" });
const copyButton = el("button", { id: "copy", class: "secondary", title: "Copy the answer" }, icon("copy"), " Copy");
const reanswerButton = el("button", { id: "reanswer", title: "Answer again with the margins now kept" }, icon("refresh"), " Re-answer");
const answerSection = el("section", { id: "answer-section", hidden: "" }, el("h3", {}, "Answer"), coverageLine, answerNotes, answerBody, el("div", { class: "controls" }, copyButton, reanswerButton));
const errorText = el("span", { id: "error-text" });
const errorSetting = el("button", { id: "error-setting", class: "secondary", hidden: "" }, icon("settings-gear"), " Open Setting");
const errorBox = el("div", { id: "error", role: "alert", hidden: "" }, errorText, errorSetting);

// ── state ──
let run: RunHeader | undefined;
let answerText = "";
/** The answer's citations, as the engine resolved them: only these and the cards' sources become links. */
let answerCitations: Citation[] = [];
let active = false;
let reading = false;
let answering = false;
/** From the engine: the kept margins differ from the last answer's, so a re-answer would say something new. */
let stale = false;
let errorOption: string | undefined;

const follower = new Follower();
const cards = new Cards(() => run?.runId, citationLink, () => follower.added(), () => refreshButtons());
// The answer, once there is one, sits above the margins it came from; earlier questions above all.
document.body.append(form, modelLine, historySection, heading, readLine, progress, errorBox, answerSection, cards.toolbar, cards.section, follower.button);

const saved = host.getState() as { draft?: string } | undefined;
question.value = saved?.draft ?? "";
question.addEventListener("input", () => host.setState({ draft: question.value }));

/** A `path:line` the engine resolved (in a margin or the answer) or a file the run read, as a link; else text. */
function citationLink(path: string, startLine: number, endLine: number): HTMLElement | undefined {
  // Only files this run read can be linked: the extension checks again before opening anything.
  const resolved = [...answerCitations, ...[...cards.values()].flatMap((c) => c.cited)].find((c) => c.path === path || c.path.endsWith("/" + path));
  if (resolved) return fileLink(resolved.path, startLine, endLine);
  for (const card of cards.values()) {
    for (const s of card.sources.querySelectorAll<HTMLElement>(".source")) {
      const p = s.dataset.path!;
      if (p === path || p.endsWith("/" + path)) return fileLink(p, startLine, endLine);
    }
  }
  return undefined;
}

function refreshButtons(): void {
  progress.hidden = !run;
  stopButton.disabled = !active;
  answerNowButton.disabled = !(active && reading && !answering);
  likelyAnswerNow.disabled = answerNowButton.disabled;
  if (answerNowButton.disabled) likely.hidden = true;
  reanswerButton.disabled = active || !run || !stale;
  copyButton.disabled = !answerText;
  askButton.disabled = !question.value.trim();
}

/** Which model reads, or that none is chosen yet (the first question then offers one). */
let modelShown: ModelInfo = {};
function showModel(m: ModelInfo): void {
  modelShown = m;
  if (!m.name) {
    const s = m.suggested;
    modelText.textContent = s
      ? `No model chosen yet. Suggested for this machine: ${reveal(s.label)}, a ${reveal(s.size)} download (${reveal(s.why)}). The first question offers it; nothing downloads until you choose. `
      : "No model chosen yet: the first question offers the one suggested for this machine, and downloads nothing until you choose. ";
    chooseModel.textContent = "Choose a model…";
    return;
  }
  const size = m.bytes !== undefined ? `, ${formatBytes(m.bytes)}` : m.remote ? ", downloaded on first use" : ", file not found";
  modelText.textContent = `Model: ${reveal(m.name)}${size}${m.where ? ` · last ran on ${reveal(m.where)}` : ""} · `;
  chooseModel.textContent = "Change…";
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
      reading = true;
      if (modelShown.name) showModel({ ...modelShown, where: `${event.backend}${event.gpuNames.length ? ` (${event.gpuNames.join(", ")})` : ""}` });
      bar.value = 0;
      statusLine.textContent = `Reading ${fmt(event.files)} files, ${fmt(event.tokens)} tokens in ${event.segments} segments${event.windows > 1 ? ` (${event.windows} windows of ${fmt(event.windowTokens)} tokens)` : ""} · ${reveal(event.model)} on ${event.backend}${event.gpuNames.length ? ` (${event.gpuNames.join(", ")})` : ""}${event.backendNote ? `. ${event.backendNote}` : ""}${event.reusedSegments ? ` · ${event.reusedSegments} of ${event.segments} segments already read (warm cache)` : ""}` +
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
    case "margin-token":
      cards.token(event);
      if (follower.isFollowing) follower.added();
      break;
    case "margin-done":
      cards.done(event);
      break;
    case "margin-classified":
      cards.classified(event);
      if (event.confident && likely.hidden && reading && !answering) {
        likely.hidden = false;
        likelyText.textContent = ` The answer is likely in segment ${event.segment + 1}'s margin (yes at ${Math.round(event.score * 100)}%).`;
      }
      break;
    case "kept-changed":
      for (const [segment, c] of cards.entries()) if (c.rejected !== event.rejected.includes(segment)) cards.setRejected(segment, !c.rejected, false);
      for (const segment of event.rejected) if (!cards.has(segment)) cards.setRejected(segment, true, false);
      stale = event.stale;
      break;
    case "answer-started": {
      answering = true;
      answerText = "";
      answerCitations = [];
      answerSection.hidden = false;
      coverageLine.textContent = "";
      cards.dropped(event.dropped);
      const notes = [
        ...(event.dropped.length ? [`${event.dropped.length} kept margin${event.dropped.length === 1 ? "" : "s"} dropped (segment ${event.dropped.map((d) => d.segment + 1).join(", ")}): ${reveal(event.dropped[0]!.reason)}.`] : []),
        ...(event.codebaseCut ? [`The answer sees the first ${event.codebaseCut.kept} of the last window's ${event.codebaseCut.of} segments directly, the rest through their margins, to make room for the notes.`] : []),
      ];
      answerNotes.hidden = notes.length === 0;
      answerNotes.textContent = notes.join(" ");
      statusLine.textContent = `Answering from ${event.marginIds.length} margins…`;
      renderAnswer();
      break;
    }
    case "answer-token":
      answerText += event.text;
      if (!answerFrame) answerFrame = requestAnimationFrame(() => { answerFrame = 0; renderAnswer(); });
      break;
    case "done": {
      active = false;
      reading = false;
      answering = false;
      answerText = event.answer || answerText;
      answerCitations = event.citations;
      renderAnswer();
      if (event.stoppedBy === "finished") bar.value = 1;
      const how = event.stoppedBy === "finished" ? "Done" : event.stoppedBy === "answer-now" ? "Answered early" : "Stopped";
      const covered = event.answer && event.coverage.ofSegments ? ` ${describeCoverage(event.coverage)}` : ` · ${event.segmentsRead} segments read`;
      statusLine.textContent = `${how}${covered} in ${secs(event.timings.totalMs / 1000)}`;
      coverageLine.textContent = event.answer && event.coverage.ofSegments ? `${event.stoppedBy === "finished" ? "Answered" : how} ${describeCoverage(event.coverage)}.` : "";
      break;
    }
    case "cache-saved":
      statusLine.textContent += event.error
        ? ` · not cached: ${event.error}`
        : event.bytes ? ` · cached for the next question (${formatBytes(event.totalBytes)} of ${formatBytes(event.limitBytes)} used)` : " · too large for the cache limit";
      break;
    case "error":
      active = false;
      reading = false;
      answering = false;
      errorBox.hidden = false;
      errorText.textContent = reveal(event.message) + (event.setting ? ` (setting: askCodebase.${event.setting})` : "");
      errorOption = event.setting;
      errorSetting.hidden = !event.setting;
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
  follower.reset();
  answerText = "";
  answerCitations = [];
  stale = false;
  active = header?.active ?? false;
  reading = false;
  answering = false;
  // Indeterminate while planning: nothing is read yet.
  bar.removeAttribute("value");
  statusLine.textContent = header?.active ? "Planning…" : "";
  likely.hidden = true;
  errorBox.hidden = true;
  answerSection.hidden = true;
  answerNotes.hidden = true;
  coverageLine.textContent = "";
  heading.textContent = header ? reveal(header.question) : "";
  readLine.textContent = header?.read ? reveal(header.read) : "";
  refreshButtons();
}

window.addEventListener("message", (e: MessageEvent<ToWebview>) => {
  const message = e.data;
  switch (message.type) {
    case "replay":
      if (message.run && message.run.runId !== run?.runId && message.run.question === question.value.trim()) {
        question.value = "";
        host.setState({ draft: "" });
      }
      reset(message.run);
      showHistory(message.history);
      showModel(message.model);
      if (message.status) statusLine.textContent = message.status;
      {
        // A finished margin's tokens are replaced by its margin-done: replaying them is only work.
        const finished = new Set(message.events.flatMap((e) => (e.type === "margin-done" ? [e.segment] : [])));
        for (const event of message.events) if (event.type !== "margin-token" || !finished.has(event.segment)) apply(event);
      }
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
  if (!question.value.trim()) return;
  // The box is emptied when the run begins (replay), not here: a question the extension cannot
  // take yet (no folder open) stays typed.
  post({ type: "ask", question: question.value.trim() });
});
question.addEventListener("keydown", (e) => {
  // As in chat views: Enter sends, Shift+Enter starts a new line (and an IME's Enter composes).
  if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
    e.preventDefault();
    form.requestSubmit();
  }
});
question.addEventListener("input", refreshButtons);
stopButton.addEventListener("click", () => run && post({ type: "stop", runId: run.runId }));
const answerNow = (): void => { if (run) post({ type: "answer-now", runId: run.runId }); };
answerNowButton.addEventListener("click", answerNow);
likelyAnswerNow.addEventListener("click", answerNow);
reanswerButton.addEventListener("click", () => run && post({ type: "reanswer", runId: run.runId }));
copyButton.addEventListener("click", () => post({ type: "copy", text: answerText }));
chooseModel.addEventListener("click", () => post({ type: "choose-model" }));
errorSetting.addEventListener("click", () => errorOption && post({ type: "open-setting", setting: errorOption }));

refreshButtons();
post({ type: "ready" });
