// End-to-end: the packaged extension in a real VS Code (code-server), driven through headless
// Chromium like a user, with a tiny model the suite writes. Prints "ok"/"not ok" per check and a
// final "N passed, N failed". Needs test/e2e/setup.sh first (npm run test:e2e runs it).
import { execFileSync, spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, utimesSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { HOSTILE_LITERAL } from "../support/hostile.ts";
import { catalogFiles, startHfServer } from "../support/hfServer.ts";
import { localMachine, MODEL_LADDER, suggestModel } from "../../src/shared/modelCatalog.ts";
import { FIDELITY_FIXTURE } from "../support/fidelityFixture.ts";
import { fidelityFlow, fidelityWorkspace } from "./fidelityFlow.mjs";

const root = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const tools = join(root, "test/e2e/tools/node_modules");
const { chromium } = await import(join(tools, "playwright-core/index.mjs"));
const out = join(root, "test-output");
mkdirSync(out, { recursive: true });
const work = mkdtempSync(join(tmpdir(), "ask-e2e-"));
const results = [];
const check = (name, ok, detail = "") => {
  results.push({ name, ok });
  console.log(`${ok ? "ok" : "not ok"} - ${name}${ok || !detail ? "" : `: ${detail}`}`);
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
async function until(fn, what, timeoutMs = 90_000) {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out: ${what}`);
    await sleep(100);
  }
}
const freePort = () => new Promise((res) => { const s = createServer(); s.listen(0, "127.0.0.1", () => { const p = s.address().port; s.close(() => res(p)); }); });

// ── what the test reads: a small git repository, and a model written here ──
const workspace = join(work, "workspace");
mkdirSync(join(workspace, "src"), { recursive: true });
for (let f = 0; f < 12; f++) {
  let text = "";
  for (let i = 1; i <= 24; i++) text += `export function part${f}_${i}(value: number): number {\n  return value * ${i} + ${f}; // step ${i}\n}\n`;
  writeFileSync(join(workspace, "src", `module${String(f).padStart(2, "0")}.ts`), text);
}
writeFileSync(join(workspace, "src", "<img src=x onerror=alert(1)>.ts"), "export const evil = '<script>alert(1)</script>';\n");
// A file with no lines: its source reads "(empty)" and opens on VS Code's one empty line.
// Dated two days back, so that it is read first (the recently edited go last), in the segment every question reads.
writeFileSync(join(workspace, "src", "empty.ts"), "");
utimesSync(join(workspace, "src", "empty.ts"), new Date(Date.now() - 2 * 86400_000), new Date(Date.now() - 2 * 86400_000));
// A binary file: skipped, and the view says so.
writeFileSync(join(workspace, "src", "logo.png"), Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13]));
writeFileSync(join(workspace, ".gitignore"), "build/\n.vscode/\n");
// A repository that tries to send the codebase to its own server and fetch its own model: those
// settings are machine-scoped, so VS Code must not let a workspace set them.
const ATTACKER = "http://attacker.invalid:9/";
mkdirSync(join(workspace, ".vscode"), { recursive: true });
writeFileSync(join(workspace, ".vscode", "settings.json"), JSON.stringify({ "askCodebase.serverUrl": ATTACKER, "askCodebase.modelEndpoint": ATTACKER, "askCodebase.model": `${ATTACKER}evil.gguf` }));
execFileSync("git", ["init", "-q"], { cwd: workspace });
const model = join(work, "tiny.gguf");
execFileSync(process.execPath, ["--import", "tsx", "scripts/write-test-model.ts", "--out", model, "--shape", "tiny"], { cwd: root, stdio: "ignore" });
// Writes test/support/hostile.ts's text whatever it is asked: model output a user could meet.
const hostileModel = join(work, "hostile.gguf");
execFileSync(process.execPath, ["--import", "tsx", "scripts/write-test-model.ts", "--out", hostileModel, "--shape", "tiny", "--hostile"], { cwd: root, stdio: "ignore" });

const fidelity = fidelityWorkspace(work);
// A local hub serving the tiny model under every catalog model's real names, slowly enough that
// the first-run download is seen in progress. The user settings point the extension at it.
const hub = await startHfServer(catalogFiles(MODEL_LADDER.map((o) => o.spec), readFileSync(model)));
hub.bytesPerSecond = 256 * 1024;

// ── package both extensions and install them into a fresh code-server ──
const vsce = join(tools, ".bin/vsce");
const vsix = join(work, "ask-codebase.vsix");
const hostVsix = join(work, "host.vsix");
const pack = ["package", "--no-update-package-json", "--allow-missing-repository", "--no-rewrite-relative-links"];
execFileSync(vsce, [...pack, "-o", vsix], { cwd: root, stdio: ["ignore", "ignore", "inherit"] });
execFileSync(vsce, [...pack, "--skip-license", "--no-dependencies", "-o", hostVsix], { cwd: join(root, "test/e2e/hostExtension"), stdio: ["ignore", "ignore", "inherit"] });
const ext = join(work, "ext"), data = join(work, "data"), reports = join(work, "reports");
for (const d of [ext, data, reports, join(work, "xdg"), join(work, "tmp")]) mkdirSync(d, { recursive: true });
mkdirSync(join(data, "User"), { recursive: true });
writeFileSync(join(data, "User", "settings.json"), JSON.stringify({
  "workbench.startupEditor": "none",
  "security.workspace.trust.enabled": false,
  "askCodebase.model": model,
  "askCodebase.gpu": "cpu",
  "askCodebase.modelEndpoint": hub.url,
  "askCodebase.threads": 1,
  "askCodebase.segmentTokens": 256,
  "askCodebase.marginTokens": 48,
  "askCodebase.answerTokens": 32,
  // The flows below ask several questions about one workspace and count what each reads: they run
  // cold, with the second-pass classifier; the in-host suite turns the warm cache and the fused
  // verdict on for its own test.
  "askCodebase.cacheSizeMiB": 0,
  "askCodebase.classify": "separate",
  // Below this workspace's size: every question asked from the UI first shows the summary dialog.
  "askCodebase.confirmAboveTokens": 5000,
}));
const env = {
  ...process.env, XDG_CONFIG_HOME: join(work, "xdg"), XDG_DATA_HOME: join(work, "xdg"), XDG_CACHE_HOME: join(work, "xdg"), TMPDIR: join(work, "tmp"),
  ASK_CODEBASE_E2E_DIR: reports, ASK_CODEBASE_E2E_SUITE: join(root, "test/e2e/suite/inHost.js"), ASK_CODEBASE_TEST_API: "1",
};
const codeServer = join(tools, ".bin/code-server");
for (const v of [vsix, hostVsix]) execFileSync(codeServer, ["--extensions-dir", ext, "--user-data-dir", data, "--install-extension", v], { env, stdio: "ignore" });
const port = await freePort();
const server = spawn(codeServer, ["--auth", "none", "--bind-addr", `127.0.0.1:${port}`, "--disable-telemetry", "--disable-update-check", "--disable-workspace-trust",
  "--disable-getting-started-override", "--extensions-dir", ext, "--user-data-dir", data, workspace], { env, detached: true, stdio: ["ignore", "ignore", "pipe"] });
let serverLog = "";
server.stderr.on("data", (d) => { serverLog = (serverLog + d).slice(-8000); });

let browser;
let enginePids = [];
try {
  browser = await chromium.launch({ executablePath: "/usr/bin/chromium", args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync"] });
  await markdownStaysText(browser);
  await until(() => fetch(`http://127.0.0.1:${port}/healthz`).then((r) => r.ok, () => false), "code-server to answer", 60_000);
  const page = await browser.newPage({ viewport: { width: 1500, height: 950 } });
  // Any alert, confirm or prompt would mean text from a file name or the model ran as code.
  const dialogs = [];
  page.on("dialog", (d) => { dialogs.push(d.message()); void d.dismiss(); });
  await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}`);
  await page.waitForSelector('.activitybar [aria-label^="Ask codebase"]', { timeout: 120_000 });
  const hostReady = () => until(() => existsSync(join(reports, "host-ready.json")), "the in-host test extension");
  await hostReady();

  const palette = async (command) => {
    const input = page.locator(".quick-input-widget input");
    // The quick input closes when focus leaves it (a view revealing itself, a notification): the
    // whole open-type-pick sequence is retried, with focus first taken back from the webview's frame.
    for (let attempt = 0; ; attempt++) {
      try {
        // Focus out first (not by a click: a click in the editor would move its selection, which a
        // check reads), then Escape: in an editor, Escape collapses the selection.
        await page.evaluate(() => document.activeElement?.blur());
        await page.keyboard.press("Escape");
        await page.keyboard.press(attempt % 2 ? "F1" : "Control+Shift+P");
        await input.waitFor({ state: "visible", timeout: 5000 });
        await input.fill(`>${command}`, { timeout: 5000 });
        // The row the Enter will run is the focused one: wait for the filter to have put it there.
        await page.locator(`.quick-input-list .monaco-list-row.focused[aria-label^="${command}"]`).first().waitFor({ timeout: 10_000 });
        await page.keyboard.press("Enter");
        // A busy workbench can swallow the Enter (CI once waited 30 s for "Ask codebase"'s question
        // box after it). Accepted, the palette closes or the same widget turns into the command's
        // own input; still holding the command after 3 s, it was not run: the sequence is redone.
        await until(async () => !(await input.isVisible().catch(() => false)) || (await input.inputValue().catch(() => "")) !== `>${command}`, `the palette to run ${command}`, 3000);
        return;
      } catch (err) {
        if (attempt >= 5) throw err;
      }
    }
  };
  const latestReport = () => Math.max(0, ...readdirSync(reports).map((n) => Number(/^report-(\d+)\.json$/.exec(n)?.[1] ?? 0)));
  const report = async () => {
    const wanted = latestReport() + 1;
    // The palette can swallow an Enter while the workbench is busy (seen once in a full run): ask
    // again, and read the newest report, which is fresh even if an earlier ask ran late.
    for (let attempt = 1; ; attempt++) {
      await palette("Ask codebase tests: Report");
      try {
        await until(() => latestReport() >= wanted, "a report", 20_000);
        break;
      } catch (err) {
        if (attempt >= 4) throw err;
      }
    }
    return JSON.parse(readFileSync(join(reports, `report-${latestReport()}.json`), "utf8"));
  };
  const lastDone = (r) => r.run?.events.filter((e) => e.type === "done" || e.type === "error").at(-1);
  let dialogText = "";
  const confirmGo = async () => {
    const dialog = page.locator(".monaco-dialog-box");
    await dialog.waitFor({ timeout: 60_000 });
    dialogText = (await dialog.textContent()) ?? "";
    await dialog.locator(".monaco-button", { hasText: "Go" }).click();
  };

  /** Whether the palette offers a command, typed as a user would. */
  const offered = async (command) => {
    const input = page.locator(".quick-input-widget input");
    await page.evaluate(() => document.activeElement?.blur());
    await page.keyboard.press("Escape");
    await page.keyboard.press("Control+Shift+P");
    await input.waitFor({ state: "visible", timeout: 5000 });
    await input.fill(`>${command}`);
    await sleep(1000);
    const rows = await page.locator(`.quick-input-list .monaco-list-row[aria-label^="${command}"]`).count();
    await page.keyboard.press("Escape");
    return rows > 0;
  };
  const idleOffers = { stop: await offered("Ask codebase: Stop"), answerNow: await offered("Ask codebase: Answer Now"), reanswer: await offered("Ask codebase: Re-answer"), ask: await offered("Ask codebase") };

  // 1. "Ask codebase" from the palette: the question box, then the sidebar fills.
  await palette("Ask codebase");
  const box = page.locator(".quick-input-widget input");
  await page.locator('.quick-input-widget:has-text("Ask a question about this codebase")').waitFor();
  await box.fill("Which function multiplies by 7?");
  await page.keyboard.press("Enter");
  await confirmGo();
  check("a large workspace is summarised before reading (files, tokens, windows, a time range, the read order, Go / Narrow Scope)",
    /\d+ files, [\d,]+ tokens in \d+ segments: (one window|\d+ windows), [^(]*\d+ (s|min|h) \((first run|from this machine)/.test(dialogText) &&
    /(read in path order|likeliest window first: \d+ files? match `)/.test(dialogText) && dialogText.includes("Narrow Scope"), dialogText);
  const view = page.frameLocator("iframe.webview.ready").frameLocator("iframe#active-frame");
  await view.locator(".margin").first().waitFor({ timeout: 120_000 });
  const runningOffers = { stop: await offered("Ask codebase: Stop") };
  check("Stop, Answer Now and Re-answer are offered in the palette only when there is a run for them",
    idleOffers.ask && !idleOffers.stop && !idleOffers.answerNow && !idleOffers.reanswer && runningOffers.stop, JSON.stringify({ idleOffers, runningOffers }));
  await until(async () => (await view.locator(".margin").count()) >= 2, "two margins");
  await page.screenshot({ path: join(out, "sidebar-mid-run.png") });
  check("margins stream into the sidebar while reading", (await view.locator(".margin").count()) >= 2);
  const csp = (await view.locator('meta[http-equiv="Content-Security-Policy"]').getAttribute("content")) ?? "";
  check("the view runs under a strict Content-Security-Policy: nothing by default, scripts only with its nonce",
    /(^|; )default-src 'none'/.test(csp) && /script-src 'nonce-[A-Za-z0-9+/=]{16,}'(;|$)/.test(csp) && !/unsafe-(inline|eval)/.test(csp), csp);
  // Hidden and shown again mid-run, the view comes back as it was (the extension replays the run) and goes on.
  const cardsBefore = await view.locator(".margin").count();
  const stillReading = (await view.locator("#stop:not([disabled])").count()) === 1;
  // Through the palette, not the activity bar: while a run goes on, the icon's progress badge lies over it.
  await palette("View: Show Explorer");
  await sleep(300);
  await palette("Ask codebase: Focus on Margins View");
  await until(async () => (await view.locator(".margin").count()) >= cardsBefore, "the view to come back", 30_000).catch(() => undefined);
  const cardsAfter = await view.locator(".margin").count();
  await until(async () => /^Done/.test((await view.locator("#status-line").textContent()) ?? ""), "the first answer", 180_000);
  await page.screenshot({ path: join(out, "sidebar-answer.png") });
  const first = await report();
  const started = first.run.events.find((e) => e.type === "run-started");
  check("the run read every segment and answered", lastDone(first)?.stoppedBy === "finished" && first.run.events.filter((e) => e.type === "margin-done").length === started.segments);
  check("the answer is shown", (await view.locator("#answer-section:not([hidden])").count()) === 1);
  const readLine = (await view.locator("#read-line").textContent()) ?? "";
  check("the view says what planning read and what it skipped, and why", /^\d+ files, [\d,]+ tokens · skipped 1: binary 1$/.test(readLine), readLine);
  check("the view hidden and shown again mid-run comes back with its margins and reads on",
    stillReading && cardsBefore >= 2 && cardsAfter >= cardsBefore && (await view.locator(".margin").count()) === started.segments,
    JSON.stringify({ stillReading, cardsBefore, cardsAfter, segments: started.segments }));
  check("a file name holding HTML shows as text and runs nothing",
    (await view.locator(".source", { hasText: "src/<img src=x onerror=alert(1)>.ts" }).count()) >= 1 && (await view.locator("img").count()) === 0 && dialogs.length === 0);

  const card = await view.locator(".margin").first().evaluate((c) => {
    const text = c.querySelector(".margin-text");
    const fold = c.querySelector(".sources-fold");
    const link = fold.querySelector(".source");
    return { textFirst: !!(text.compareDocumentPosition(fold) & Node.DOCUMENT_POSITION_FOLLOWING), folded: !fold.open, count: fold.querySelector("summary").textContent, nowrap: getComputedStyle(link).whiteSpace === "nowrap" };
  });
  check("a card shows its margin first, then its sources folded to a count; a file link never breaks inside its name",
    card.textFirst && card.folded && /^(\d+ files|1 file: .+)$/.test(card.count) && card.nowrap, JSON.stringify(card));

  // 2. A source link opens the file with those lines selected (its card's sources opened first, as a user would).
  const fold = view.locator(".margin .sources-fold").nth(1);
  await fold.locator("summary").click();
  const link = fold.locator(".source").first();
  const want = { path: await link.getAttribute("data-path"), start: Number(await link.getAttribute("data-start")), end: Number(await link.getAttribute("data-end")) };
  await link.click();
  await until(async () => (await page.locator(".editor-group-container .tab.active").count()) > 0, "an editor");
  await sleep(500);
  const opened = await report();
  check("a source link opens the editor with those lines selected", opened.editor && opened.editor.path === join(workspace, ...want.path.split("/")) && opened.editor.start === want.start - 1 && opened.editor.end === want.end - 1, JSON.stringify({ want, got: opened.editor }));

  // 3. Reject a margin, re-answer: the answer prompt leaves it out.
  const kept = opened.answerMarginIds;
  const target = kept[1];
  await view.locator(`.margin[data-segment="${target}"] .reject`).click();
  await view.locator("#reanswer:not([disabled])").click();
  await until(async () => { const r = await report(); return r.answerMarginIds && !r.answerMarginIds.includes(target) && lastDone(r) ? r : undefined; }, "the re-answer", 120_000);
  check("a rejected margin is absent from the re-answer's prompt", true);

  // 4. Ask from the sidebar (Shift+Enter adds a line, Enter sends) and press Answer Now after the first margin.
  await view.locator("#question").fill("Where is part3_5 defined?");
  await view.locator("#question").press("Shift+Enter");
  const twoLines = (await view.locator("#question").inputValue()).includes("\n");
  await view.locator("#question").fill("Where is part3_5 defined? <img src=x onerror=alert(2)><script>alert(3)</script>");
  // When the view first shows the question, "Planning" and an enabled Stop, timed inside the view.
  await view.locator("body").evaluate(() => {
    window.planningShownAt = 0;
    const seen = () => document.querySelector("#run-question").textContent.includes("part3_5") && /Planning/.test(document.querySelector("#status-line").textContent) && !document.querySelector("#stop").disabled;
    new MutationObserver(() => { if (!window.planningShownAt && seen()) window.planningShownAt = performance.now(); }).observe(document.body, { subtree: true, childList: true, characterData: true, attributes: true });
    window.askedAt = performance.now();
  });
  await view.locator("#question").press("Enter");
  await confirmGo();
  const planningShownMs = await view.locator("body").evaluate(() => (window.planningShownAt ? window.planningShownAt - window.askedAt : -1));
  check("Enter sends the question and Shift+Enter adds a line; the view shows it planning (the question, 'Planning', Stop) within a second",
    twoLines && planningShownMs > 0 && planningShownMs < 1000 && (await view.locator("#question").inputValue()) === "", `shift+enter made two lines: ${twoLines}; planning shown after ${planningShownMs.toFixed(0)} ms`);
  await until(async () => (await view.locator("#run-question", { hasText: "part3_5" }).count()) === 1 && (await view.locator(".margin").count()) >= 1, "the second run's first margin");
  check("a question holding HTML shows as text and runs nothing",
    (await view.locator("#run-question").textContent()).includes("<script>alert(3)</script>") && (await view.locator("#run-question *").count()) === 0 &&
    (await view.locator("img").count()) === 0 && dialogs.length === 0,
    JSON.stringify({ text: await view.locator("#run-question").textContent(), children: await view.locator("#run-question *").count(), imgs: await view.locator("img").count(), dialogs }));
  await view.locator("#answer-now:not([disabled])").click();
  await until(async () => /^(Answered early|Done)/.test((await view.locator("#status-line").textContent()) ?? ""), "the early answer", 120_000);
  const early = await report();
  const earlyDone = lastDone(early);
  const earlyStarted = early.run.events.find((e) => e.type === "run-started");
  check("Answer Now stops reading early", earlyDone?.stoppedBy === "answer-now" && earlyDone.segmentsRead < earlyStarted.segments, JSON.stringify({ stoppedBy: earlyDone?.stoppedBy, read: earlyDone?.segmentsRead, of: earlyStarted?.segments }));
  const coverageText = (await view.locator("#coverage").textContent()) ?? "";
  const covered = /^Answered early from (\d+) of (\d+) segments \((<1|\d+)% of the tokens\)\.$/.exec(coverageText);
  check("after Answer Now the view says how much of the codebase the answer rests on",
    !!covered && Number(covered[1]) === earlyDone.coverage.segments && Number(covered[2]) === earlyDone.coverage.ofSegments && earlyDone.coverage.segments === earlyDone.segmentsRead,
    JSON.stringify({ coverageText, coverage: earlyDone?.coverage }));
  check("the earlier question stays in the view, folded to question and answer", (await view.locator("#history details.past").count()) >= 1 && !(await view.locator("#history details.past").first().evaluate((d) => d.open)));

  // 5. Kill the engine process; the next question still works.
  const pid = early.enginePid;
  enginePids.push(pid);
  process.kill(pid, "SIGKILL");
  await sleep(500);
  await view.locator("#question").fill("What does module01 export?");
  await view.locator("#ask").click();
  await confirmGo();
  // The view follows new cards while at the bottom; scrolled up, it stays there and offers "Jump to latest".
  const scrollState = () => view.locator("body").evaluate(() => {
    const s = document.scrollingElement;
    const all = document.querySelectorAll(".margin");
    const last = all[all.length - 1]?.getBoundingClientRect();
    return {
      overflow: s.scrollHeight > s.clientHeight + 50, atBottom: s.scrollHeight - s.scrollTop - s.clientHeight <= 48, top: s.scrollTop,
      lastInView: !!last && last.top < window.innerHeight, jump: !document.querySelector("#jump-latest").hidden, cards: all.length,
      reading: !document.querySelector("#answer-now").disabled,
    };
  });
  await until(async () => (await view.locator("#run-question", { hasText: "module01" }).count()) === 1 && (await scrollState()).cards >= 1, "the run's first card", 120_000);
  // A sample can land between a card's arrival and the frame that scrolls to it (CI saw top 60 with
  // the newest card below): poll briefly for the settled state and judge the last one taken.
  const settled = async (ok, ms = 3000) => {
    const end = Date.now() + ms;
    for (;;) { const st = await scrollState(); if (ok(st) || Date.now() > end) return st; await sleep(100); }
  };
  await until(async () => { const st = await scrollState(); return st.overflow || !st.reading ? st : undefined; }, "cards to fill the view", 60_000);
  const filled = await settled((st) => st.atBottom && st.lastInView);
  await view.locator("body").evaluate(() => { document.scrollingElement.scrollTop = 0; });
  await sleep(200);
  const scrolledUp = await scrollState();
  const later = await until(async () => { const st = await scrollState(); return st.cards > scrolledUp.cards || !st.reading ? st : undefined; }, "a card after scrolling up", 60_000);
  if (later.jump) await view.locator("#jump-latest").click();
  // Following again: the newest card is in view.
  const jumped = await settled((st) => st.lastInView && !st.jump);
  check("the view follows new cards, stays where the user scrolled up to, and jumps to the latest on request",
    filled.overflow && filled.atBottom && filled.lastInView && later.cards > scrolledUp.cards && later.top < 5 && later.jump && jumped.lastInView && !jumped.jump,
    JSON.stringify({ filled, scrolledUp, later, jumped }));
  await until(async () => { const r = await report(); const d = lastDone(r); return r.run.question.includes("module01") && d ? r : undefined; }, "a question after the kill", 120_000);
  const after = await report();
  enginePids.push(after.enginePid);
  check("after the engine process is killed the next question works", lastDone(after)?.stoppedBy === "finished" && after.enginePid !== pid);

  const scoped = (await report()).repositorySettings;
  check("a repository's .vscode/settings.json cannot point the server, the model or the endpoint elsewhere (machine scope)",
    scoped.serverUrl === "" && scoped.modelEndpoint === hub.url && scoped.model === model, JSON.stringify(scoped));

  // 6. A model that writes hostile Markdown and HTML: in the real webview it stays text.
  const useSettings = async (settings) => {
    writeFileSync(join(reports, "use-settings.json"), JSON.stringify(settings));
    await palette("Ask codebase tests: Use Settings");
  };
  const useModel = async (path) => {
    await useSettings({ model: path });
    await until(async () => (await report()).model === path, `the model setting to become ${path}`, 60_000);
  };
  await useModel(hostileModel);
  await view.locator("#question").fill("What does module02 export?");
  await view.locator("#ask").click();
  await confirmGo();
  await until(async () => { const r = await report(); const d = lastDone(r); return r.run.question.includes("module02") && d ? r : undefined; }, "the hostile model's answer", 120_000);
  await until(async () => /^Done/.test((await view.locator("#status-line").textContent()) ?? ""), "the view to show the answer", 30_000);
  const hostile = await report();
  const hostileDone = lastDone(hostile);
  const shown = await Promise.all([view.locator(".margin-text").first(), view.locator("#answer")].map((l) => l.evaluate((root) => ({
    text: root.textContent,
    tags: [...root.querySelectorAll("*")].map((e) => e.tagName),
    attrs: [...root.querySelectorAll("*")].flatMap((e) => [...e.attributes].map((a) => a.name)),
  }))));
  const allowedTags = new Set(["P", "STRONG", "EM", "CODE", "PRE", "UL", "OL", "LI", "H3", "H4", "H5", "H6", "BUTTON"]);
  const allowedAttrs = new Set(["class", "title", "data-path", "data-start", "data-end"]);
  await page.screenshot({ path: join(out, "sidebar-hostile.png") });
  check("hostile Markdown and HTML from the model stay text in the real webview: no script, handler, link, outside file, dialog or bidi override",
    hostileDone?.stoppedBy === "finished" && hostileDone.answer.includes(HOSTILE_LITERAL) &&
    shown.every((s) => s.text.includes(HOSTILE_LITERAL) && s.text.includes("\\u202eevil\\u202c") && !/[\u202a-\u202e\u2066-\u2069\x1b]/.test(s.text) && s.tags.every((t) => allowedTags.has(t)) && s.attrs.every((a) => allowedAttrs.has(a))) &&
    (await view.locator("img, iframe, a, svg, b, [onerror], [onmouseover]").count()) === 0 &&
    (await view.locator('.source[data-path*="passwd"]').count()) === 0 && dialogs.length === 0,
    JSON.stringify({ stoppedBy: hostileDone?.stoppedBy, shown, dialogs }));

  // 6b. No model chosen: the first question asks which, and nothing downloads until the user says.
  const modelLineSet = (await view.locator("#model-line").textContent()) ?? "";
  await useModel("");
  await until(async () => /No model chosen yet/.test((await view.locator("#model-line").textContent()) ?? ""), "the view to say no model is chosen", 20_000).catch(() => undefined);
  const modelLineUnset = (await view.locator("#model-line").textContent()) ?? "";
  check("the idle view says which model reads (name, size, where it last ran), or that none is chosen yet",
    /Model: [\w-]+\.gguf, [\d.]+ MiB · last ran on cpu/.test(modelLineSet) && /No model chosen yet/.test(modelLineUnset), JSON.stringify({ modelLineSet, modelLineUnset }));
  const runBefore = (await report()).run.runId;
  const modelsDir = work; // the extension's storage (user data) and every cache folder are under it
  const filesBefore = spawnSync("find", [modelsDir, "-name", "*.gguf*"], { encoding: "utf8" }).stdout;
  await view.locator("#question").fill("What does module03 export?");
  await view.locator("#question").press("Enter");
  const offer = page.locator(".monaco-dialog-box");
  await offer.waitFor({ timeout: 30_000 });
  const offerText = (await offer.textContent()) ?? "";
  await offer.locator(".monaco-button", { hasText: "Cancel" }).click();
  await sleep(1500);
  const afterOffer = await report();
  check("with no model chosen, the first question offers the model suggested for this machine (size, why) and downloads nothing until asked",
    /needs a model/.test(offerText) && /Download Qwen2\.5-Coder [\d.]+B/.test(offerText) && /[\d.]+ [MG]iB download/.test(offerText) && /Use a GGUF File/.test(offerText) &&
    afterOffer.run.runId === runBefore && (await view.locator("#question").inputValue()) === "What does module03 export?" &&
    spawnSync("find", [modelsDir, "-name", "*.gguf*"], { encoding: "utf8" }).stdout === filesBefore,
    JSON.stringify({ offerText, sameRun: afterOffer.run.runId === runBefore }));

  // 6c. The first-run path: the suggested model is chosen, downloads from the endpoint with a
  // progress notification, and the first question answers with it.
  await page.screenshot({ path: join(out, "first-run-welcome.png") });
  const welcome = (await view.locator("#model-line").textContent()) ?? "";
  const suggestion = suggestModel(localMachine());
  hub.requests.length = 0;
  await view.locator("#question").press("Enter");
  const firstOffer = page.locator(".monaco-dialog-box");
  await firstOffer.waitFor({ timeout: 30_000 });
  await page.screenshot({ path: join(out, "first-run-offer.png") });
  await firstOffer.locator(".monaco-button", { hasText: "Download" }).click();
  const downloading = page.locator(".notifications-toasts .notification-toast", { hasText: "Downloading the model" });
  let downloadSeen = "";
  try {
    await downloading.first().waitFor({ timeout: 30_000 });
    downloadSeen = (await downloading.first().textContent()) ?? "";
    await page.screenshot({ path: join(out, "first-run-download.png") });
  } catch {}
  await confirmGo();
  const firstRun = await until(async () => { const r = await report(); const d = lastDone(r); return r.run.question.includes("module03") && d ? r : undefined; }, "the first question with the downloaded model", 180_000);
  const storedModels = spawnSync("find", [data, "-name", "*.gguf"], { encoding: "utf8" }).stdout.trim().split("\n").filter(Boolean);
  check("first run: the welcome names the suggested model; choosing it downloads from the endpoint with a progress notification, and the question answers",
    welcome.includes(`Suggested for this machine: ${suggestion.option.label}`) && /Downloading the model: \d+% \([\d.]+ [KM]iB of 1\.3 MiB\)/.test(downloadSeen) &&
    firstRun.model === suggestion.option.spec && lastDone(firstRun)?.stoppedBy === "finished" && lastDone(firstRun).answer.length > 0 &&
    hub.requests.some((q) => q.method === "GET" && q.path.endsWith(catalogFiles([suggestion.option.spec], Buffer.alloc(0))[0].file)) &&
    storedModels.length === 1 && readFileSync(storedModels[0]).equals(readFileSync(model)),
    JSON.stringify({ welcome, downloadSeen, model: firstRun.model, done: lastDone(firstRun)?.stoppedBy, requests: hub.requests.length, storedModels }));
  await view.locator("#question").fill("");
  await useModel(model);

  // 7. The in-host suite.
  await palette("Ask codebase tests: Run Suite");
  const progress = () => (existsSync(join(reports, "suite-progress.json")) ? JSON.parse(readFileSync(join(reports, "suite-progress.json"), "utf8")) : undefined);
  const suite = await until(() => existsSync(join(reports, "suite.json")) && JSON.parse(readFileSync(join(reports, "suite.json"), "utf8")), "the in-host suite", 600_000)
    .catch((err) => {
      const p = progress();
      throw new Error(`${err.message}${p ? `, in "${p.running}" after ${p.results.map((r) => `${r.ok ? "ok" : "not ok"} ${r.name} (${r.ms} ms)`).join("; ")}` : ""}`);
    });
  for (const r of suite.results) check(`in-host: ${r.name}`, r.ok, r.error);
  // Its time against the 600 s it is given (it took 247 s on an idle 2-core machine, and a busier one ran past 300), so that a suite growing toward the limit is seen before it fails.
  console.log(`in-host suite: ${suite.results.length} tests in ${Math.round(suite.results.reduce((n, r) => n + r.ms, 0) / 1000)} s (slowest: ${[...suite.results].sort((x, y) => y.ms - x.ms).slice(0, 3).map((r) => `${r.name} ${Math.round(r.ms / 1000)} s`).join("; ")})`);
  await page.screenshot({ path: join(out, "after-suite.png") });

  // 8. A model trained for the task, in a window on another folder (test/e2e/fidelityFlow.mjs).
  rmSync(join(reports, "host-ready.json"));
  enginePids.push(await fidelityFlow({ page, palette, report, useSettings, until, check, lastDone, hostReady, base: `http://127.0.0.1:${port}`, out }, fidelity, FIDELITY_FIXTURE));
} catch (err) {
  check("the e2e run completed", false, `${err.stack}\n${await sceneAtFailure()}\ncode-server: ${serverLog.slice(-2000)}`);
} finally {
  await browser?.close().catch(() => {});
  try { process.kill(-server.pid, "SIGTERM"); } catch {}
  await sleep(1000);
  try { process.kill(-server.pid, "SIGKILL"); } catch {}
  const alive = (p) => { try { process.kill(p, 0); return true; } catch { return false; } };
  // An engine exits when its IPC channel to the killed host closes: some milliseconds after the
  // kill, not at once (a check made right after it failed once on a busy machine).
  await until(() => !enginePids.some(alive), "the engine processes to exit", 5000).catch(() => undefined);
  const left = enginePids.filter(alive);
  check("no engine process is left behind after VS Code stops (within 5 s)", left.length === 0, `left: ${left}`);
  await hub.close();
  rmSync(work, { recursive: true, force: true });
}
/**
 * What the workbench showed when a step failed, for a CI log that is all there is to read: the
 * open quick input and notifications as text, and a screenshot in test-output/ where it is kept.
 */
async function sceneAtFailure() {
  const page = browser?.contexts().flatMap((c) => c.pages()).at(-1);
  if (!page) return "(no page)";
  await page.screenshot({ path: join(out, "failure.png") }).catch(() => undefined);
  const text = (selector) => page.locator(selector).allInnerTexts().then((t) => t.join(" | ").replace(/\s+/g, " ").slice(0, 600), () => "?");
  return `quick input: ${await text(".quick-input-widget:visible")}\nnotifications: ${await text(".notification-toast:visible")}`;
}
/**
 * The webview's Markdown renderer, bundled as the webview gets it, fed hostile model output in
 * Chromium: only the elements it may make, no attribute that runs anything, no dialog.
 */
async function markdownStaysText(browser) {
  const esbuild = await import(join(root, "node_modules/esbuild/lib/main.js"));
  const bundle = await esbuild.build({ entryPoints: [join(root, "webview/markdown.ts")], bundle: true, format: "iife", globalName: "md", write: false, platform: "browser" });
  const page = await browser.newPage();
  const dialogs = [];
  page.on("dialog", (d) => { dialogs.push(d.message()); void d.dismiss(); });
  await page.setContent("<!DOCTYPE html><body></body>");
  await page.addScriptTag({ content: bundle.outputFiles[0].text });
  const hostile = [
    "<script>alert(1)</script>",
    "<img src=x onerror=alert(2)>",
    "[click me](javascript:alert(3)) and <a href=\"javascript:alert(4)\">x</a>",
    "**<b onmouseover=alert(5)>bold</b>** and *<svg onload=alert(6)>*",
    "```\n</code></pre><script>alert(7)</script>\n```",
    "`<iframe src=javascript:alert(8)>` see src/a.ts:3-5",
    "# <style>body{display:none}</style>\n- <details open ontoggle=alert(9)>\n1. <body onload=alert(10)>",
  ];
  const report = await page.evaluate((inputs) => {
    const out = [];
    for (const text of inputs) {
      const host = document.createElement("div");
      host.append(window.md.renderMarkdown(text, { link: (path, a, b) => { const btn = document.createElement("button"); btn.className = "link source"; btn.textContent = `${path}:${a}-${b}`; return btn; } }));
      document.body.append(host);
      const tags = [...host.querySelectorAll("*")].map((e) => e.tagName);
      const attrs = [...host.querySelectorAll("*")].flatMap((e) => [...e.attributes].map((a) => a.name));
      out.push({ text, tags, attrs, shown: host.textContent });
    }
    return out;
  }, hostile);
  await new Promise((r) => setTimeout(r, 300));
  const allowed = new Set(["P", "STRONG", "EM", "CODE", "PRE", "UL", "OL", "LI", "H3", "H4", "H5", "H6", "BUTTON"]);
  const bad = report.filter((r) => r.tags.some((t) => !allowed.has(t)) || r.attrs.some((a) => a !== "class"));
  const visible = report.every((r) => /<(script|img|a|b|svg|iframe|style|details|body)\b/.test(r.shown) || r.text.startsWith("```"));
  check("hostile Markdown from the model renders as text in Chromium: no script, handler, link or dialog", bad.length === 0 && dialogs.length === 0 && visible,
    JSON.stringify({ bad, dialogs }));
  await page.close();
}

const failed = results.filter((r) => !r.ok).length;
console.log(`${results.length - failed} passed, ${failed} failed`);
process.exitCode = failed ? 1 : 0;
