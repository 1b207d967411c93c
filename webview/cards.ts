// One card per segment: the margin first, the `path:line` references it makes as links inline,
// then the segment's files folded to a count that opens on click. A card says what became of its
// margin: judged relevant (and whether the answer is likely in it), folded when not, rejected by
// the user, or dropped from the answer for want of room.
import type { Citation } from "../src/core/wim/citations";
import type { WimEvent } from "../src/core/wim/events";
import { reveal } from "../src/core/reveal";
import { sourceLabel } from "../src/shared/lines";
import { el, icon, post } from "./dom";
import { renderMarkdown } from "./markdown";

export interface Card {
  details: HTMLDetailsElement; text: HTMLElement; verdict: HTMLElement; reject: HTMLButtonElement; citations: HTMLElement;
  sources: HTMLElement; sourcesCount: HTMLElement; note: HTMLElement;
  raw: string; rejected: boolean; cited: Citation[];
}

/** A link to a file's lines; its text never breaks inside the name (it is cut with an ellipsis instead, the whole in its title). */
export function fileLink(path: string, startLine: number, endLine: number): HTMLButtonElement {
  const shown = reveal(path);
  const where = sourceLabel(shown, startLine, endLine);
  const b = el("button", { class: "link source", title: `Open ${where}`, "data-path": path, "data-start": String(startLine), "data-end": String(endLine) }, where);
  b.addEventListener("click", () => post({ type: "open", path, startLine, endLine }));
  return b;
}

export class Cards {
  readonly section = el("section", { id: "margins", "aria-label": "Margins" });
  private readonly filterButton = el("button", { id: "relevant-only", class: "secondary", "aria-pressed": "false", title: "Show only the margins judged relevant" }, icon("filter"), " Relevant only");
  readonly toolbar = el("div", { class: "controls margins-toolbar", hidden: "" }, this.filterButton);
  private readonly cards = new Map<number, Card>();

  constructor(
    private readonly runId: () => string | undefined,
    private readonly link: (path: string, startLine: number, endLine: number) => HTMLElement | undefined,
    private readonly onAdded: () => void,
    private readonly onRejectedChange: () => void,
  ) {
    this.filterButton.addEventListener("click", () => {
      const on = this.filterButton.getAttribute("aria-pressed") !== "true";
      this.filterButton.setAttribute("aria-pressed", String(on));
      this.section.classList.toggle("relevant-only", on);
    });
  }

  clear(): void {
    this.cards.clear();
    this.section.replaceChildren();
    this.toolbar.hidden = true;
  }

  values(): IterableIterator<Card> {
    return this.cards.values();
  }

  entries(): IterableIterator<[number, Card]> {
    return this.cards.entries();
  }

  has(segment: number): boolean {
    return this.cards.has(segment);
  }

  card(segment: number): Card {
    let c = this.cards.get(segment);
    if (c) return c;
    const verdict = el("span", { class: "verdict" });
    const reject = el("button", { class: "reject icon-button", "aria-pressed": "false", title: "Reject this margin (leave it out of the answer)" }, icon("close"));
    const text = el("div", { class: "margin-text" });
    const citations = el("div", { class: "citations" });
    const note = el("div", { class: "card-note", hidden: "" });
    const sources = el("div", { class: "sources" });
    const sourcesCount = el("summary", { class: "sources-count" });
    const fold = el("details", { class: "sources-fold", hidden: "" }, sourcesCount, sources);
    const summary = el("summary", {}, el("span", { class: "segment-title" }, `Segment ${segment + 1}`), verdict);
    const details = el("details", { class: "margin", "data-segment": String(segment), open: "" }, summary, text, citations, note, fold);
    const entry: Card = { details, text, verdict, reject, citations, sources, sourcesCount, note, raw: "", rejected: false, cited: [] };
    reject.addEventListener("click", (e) => {
      e.preventDefault();
      this.setRejected(segment, !entry.rejected, true);
    });
    summary.append(reject);
    this.cards.set(segment, entry);
    const after = [...this.section.children].find((n) => Number((n as HTMLElement).dataset.segment) > segment);
    this.section.insertBefore(details, after ?? null);
    this.toolbar.hidden = false;
    if (!after) this.onAdded();
    return entry;
  }

  setRejected(segment: number, rejected: boolean, tell: boolean): void {
    const c = this.card(segment);
    c.rejected = rejected;
    c.details.classList.toggle("rejected", rejected);
    c.reject.setAttribute("aria-pressed", String(rejected));
    c.reject.replaceChildren(icon(rejected ? "discard" : "close"));
    c.reject.title = rejected ? "Restore this margin" : "Reject this margin (leave it out of the answer)";
    const runId = this.runId();
    if (tell && runId) post({ type: "reject", runId, segment, rejected });
    this.onRejectedChange();
  }

  token(e: Extract<WimEvent, { type: "margin-token" }>): void {
    const c = this.card(e.segment);
    c.raw += e.text;
    c.text.textContent = reveal(c.raw);
    c.details.classList.add("streaming");
  }

  done(e: Extract<WimEvent, { type: "margin-done" }>): void {
    const c = this.card(e.segment);
    c.raw = e.text;
    c.cited = e.citations;
    c.details.classList.remove("streaming");
    c.text.replaceChildren(e.text.trim() ? renderMarkdown(e.text, { link: this.link }) : el("em", {}, "(nothing relevant)"));
    c.citations.replaceChildren(...(e.citations.length ? [el("span", { class: "label" }, "Cites "), ...e.citations.map((x) => fileLink(x.path, x.line, x.endLine))] : []));
    const files = new Set(e.sources.map((s) => s.path)).size;
    c.sourcesCount.textContent = files === 1 ? `1 file: ${reveal(e.sources[0]!.path)}` : `${files.toLocaleString("en-US")} files`;
    c.sources.replaceChildren(...e.sources.map((s) => fileLink(s.path, s.startLine, s.endLine)));
    c.sources.parentElement!.hidden = false;
    if (e.partial) c.verdict.textContent = "stopped early";
  }

  classified(e: Extract<WimEvent, { type: "margin-classified" }>): void {
    const c = this.card(e.segment);
    c.verdict.textContent = e.confident ? "likely answer" : e.relevant ? "relevant" : "not relevant";
    c.verdict.className = `verdict ${e.relevant ? "relevant" : "irrelevant"}${e.confident ? " likely" : ""}`;
    c.details.classList.toggle("relevant", e.relevant);
    c.details.classList.toggle("irrelevant", !e.relevant);
    c.details.classList.toggle("likely", e.confident);
    // Folded away, but one click opens it.
    if (!e.relevant) c.details.open = false;
  }

  /** The answer left these out for want of room: said on the card, never silently. */
  dropped(dropped: readonly { segment: number; reason: string }[]): void {
    for (const c of this.cards.values()) {
      c.details.classList.remove("dropped");
      c.note.hidden = true;
    }
    for (const d of dropped) {
      const c = this.card(d.segment);
      c.details.classList.add("dropped");
      c.note.hidden = false;
      c.note.textContent = `Dropped from the answer: ${reveal(d.reason)}`;
    }
  }
}
