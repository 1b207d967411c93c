// A small Markdown renderer that builds DOM nodes and only ever sets text: model output can make
// paragraphs, lists, headings, code, emphasis and file links, and nothing else. No innerHTML, so
// no markup in the text can become an element, a handler or a script.
import { reveal } from "../src/core/reveal";
import { CITATION } from "../src/core/wim/citations";

export interface MarkdownOptions {
  /** Turns `path:line` references into links; return undefined to leave the text as it is. */
  link?: (path: string, startLine: number, endLine: number) => HTMLElement | undefined;
}

export function renderMarkdown(text: string, options: MarkdownOptions = {}): DocumentFragment {
  const root = document.createDocumentFragment();
  const lines = reveal(text).split("\n");
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    const fence = /^\s*```(.*)$/.exec(line);
    if (fence) {
      const body: string[] = [];
      i++;
      while (i < lines.length && !/^\s*```\s*$/.test(lines[i]!)) body.push(lines[i++]!);
      i++;
      const pre = document.createElement("pre");
      const code = document.createElement("code");
      code.textContent = body.join("\n");
      pre.append(code);
      root.append(pre);
      continue;
    }
    const heading = /^(#{1,4})\s+(.*)$/.exec(line);
    if (heading) {
      const h = document.createElement(`h${Math.min(6, heading[1]!.length + 2)}`);
      h.append(inline(heading[2]!, options));
      root.append(h);
      i++;
      continue;
    }
    if (/^\s*([-*+]|\d+[.)])\s+/.test(line)) {
      const ordered = /^\s*\d+[.)]\s+/.test(line);
      const list = document.createElement(ordered ? "ol" : "ul");
      while (i < lines.length && /^\s*([-*+]|\d+[.)])\s+/.test(lines[i]!)) {
        const li = document.createElement("li");
        li.append(inline(lines[i]!.replace(/^\s*([-*+]|\d+[.)])\s+/, ""), options));
        list.append(li);
        i++;
      }
      root.append(list);
      continue;
    }
    if (!line.trim()) {
      i++;
      continue;
    }
    const para: string[] = [];
    while (i < lines.length && lines[i]!.trim() && !/^\s*```/.test(lines[i]!) && !/^#{1,4}\s/.test(lines[i]!) && !/^\s*([-*+]|\d+[.)])\s+/.test(lines[i]!)) para.push(lines[i++]!);
    const p = document.createElement("p");
    p.append(inline(para.join("\n"), options));
    root.append(p);
  }
  return root;
}

/** `code`, **bold**, *emphasis*, and path:line links; everything else is text. */
export function inline(text: string, options: MarkdownOptions = {}): DocumentFragment {
  const out = document.createDocumentFragment();
  const token = /`([^`]+)`|\*\*([^*]+)\*\*|\*([^*\s][^*]*)\*/g;
  let last = 0;
  for (const m of text.matchAll(token)) {
    out.append(citations(text.slice(last, m.index), options));
    if (m[1] !== undefined) {
      const code = document.createElement("code");
      code.append(citations(m[1], options));
      out.append(code);
    } else {
      const el = document.createElement(m[2] !== undefined ? "strong" : "em");
      el.append(citations(m[2] ?? m[3]!, options));
      out.append(el);
    }
    last = m.index! + m[0].length;
  }
  out.append(citations(text.slice(last), options));
  return out;
}

function citations(text: string, options: MarkdownOptions): DocumentFragment {
  const out = document.createDocumentFragment();
  let last = 0;
  if (options.link) {
    for (const m of text.matchAll(CITATION)) {
      const start = Number(m[2]);
      const el = options.link(m[1]!, start, m[3] ? Number(m[3]) : start);
      if (!el) continue;
      out.append(document.createTextNode(text.slice(last, m.index)));
      out.append(el);
      last = m.index! + m[0].length;
    }
  }
  out.append(document.createTextNode(text.slice(last)));
  return out;
}
