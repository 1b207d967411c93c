// Earlier questions of this window, folded to what was asked, the answer and how much of the
// codebase it rests on. Their answers are shown as text: their runs' files are no longer linked.
import type { PastRun } from "../src/shared/webviewProtocol";
import { describeCoverage } from "../src/shared/describe";
import { reveal } from "../src/core/reveal";
import { el } from "./dom";
import { renderMarkdown } from "./markdown";

export const historySection = el("section", { id: "history", "aria-label": "Earlier questions", hidden: "" });

export function showHistory(runs: readonly PastRun[]): void {
  historySection.hidden = runs.length === 0;
  historySection.replaceChildren(...runs.map((r) => {
    const how = r.stoppedBy === "finished" ? "Answered" : r.stoppedBy === "answer-now" ? "Answered early" : "Stopped";
    const coverage = r.coverage && r.coverage.ofSegments ? ` ${describeCoverage(r.coverage)}` : "";
    return el("details", { class: "past", "data-run": r.runId },
      el("summary", {}, el("span", { class: "past-question" }, reveal(r.question))),
      el("div", { class: "past-coverage" }, `${how}${coverage}`),
      el("div", { class: "past-answer" }, r.answer.trim() ? renderMarkdown(r.answer) : el("em", {}, "(no answer)")));
  }));
}
