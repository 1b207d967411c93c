// The e2e flow with a model that really reads: bench/fidelity's task-trained model (the fixture,
// test/support/fidelityFixture.ts) on a synthetic codebase of the task's kind that it never saw in
// training. In the real sidebar, the card of the segment that defines the asked constant must be
// judged relevant, the other cards judged irrelevant must be folded, and the answer must name the value.
import { rmSync } from "node:fs";
import { join } from "node:path";
import { TRAINING_CHARS } from "../../bench/fidelity/examples.ts";
import { makeTask } from "../../bench/fidelity/task.ts";
import { FIDELITY_SEEDS, FIDELITY_SETTINGS } from "../support/fidelityFixture.ts";
import { git, writeTree } from "../support/fixtures.ts";

/** Writes the codebase as a git repository under `work`; returns it with the task (question, value, definition). */
export function fidelityWorkspace(work) {
  const task = makeTask({ seed: FIDELITY_SEEDS[0], chars: TRAINING_CHARS, hops: 1 });
  const folder = join(work, "fidelity");
  rmSync(folder, { recursive: true, force: true });
  writeTree(folder, Object.fromEntries(task.files.map((f) => [f.path, f.text])));
  git(folder, "init", "-q");
  return { folder, task };
}

/**
 * Opens the workspace in the same browser page (a new window: a new extension host), asks its
 * question from the sidebar and reads the cards. `h` holds run.mjs's helpers. Returns the engine's
 * process id (run.mjs checks that none is left behind).
 */
export async function fidelityFlow(h, { folder, task }, model) {
  const { page, palette, report, useSettings, until, check, lastDone, hostReady } = h;
  await useSettings({ model, ...FIDELITY_SETTINGS });
  await until(async () => {
    const r = await report();
    return r.model === model && Object.entries(FIDELITY_SETTINGS).every(([k, v]) => r.settings[k] === v);
  }, "the fidelity settings", 60_000);
  await page.goto(`${h.base}/?folder=${encodeURIComponent(folder)}`);
  await page.waitForSelector('.activitybar [aria-label^="Ask codebase"]', { timeout: 120_000 });
  await hostReady();
  await palette("Ask codebase: Focus on Margins View");
  const view = page.frameLocator("iframe.webview.ready").frameLocator("iframe#active-frame");
  await view.locator("#question").fill(task.question);
  await view.locator("#ask").click();
  const done = await until(async () => {
    const r = await report();
    return r.run?.question === task.question && lastDone(r) ? r : undefined;
  }, "the trained model's answer", 180_000);
  await until(async () => /^Done/.test((await view.locator("#status-line").textContent()) ?? ""), "the view to show the answer", 30_000);
  await page.screenshot({ path: join(h.out, "sidebar-fidelity.png") });
  const cards = await view.locator("details.margin").evaluateAll((all) => all.map((c) => ({
    relevant: c.classList.contains("relevant"), likely: c.classList.contains("likely"), irrelevant: c.classList.contains("irrelevant"), open: c.open,
    sources: [...c.querySelectorAll(".sources .source")].map((s) => ({ path: s.dataset.path, start: Number(s.dataset.start), end: Number(s.dataset.end) })),
  })));
  const d = task.definition;
  const defining = cards.filter((c) => c.sources.some((s) => s.path === d.path && s.start <= d.line && d.line <= s.end));
  const irrelevant = cards.filter((c) => c.irrelevant);
  const answer = (await view.locator("#answer").textContent()) ?? "";
  const result = lastDone(done);
  check("a model trained for the task, on a codebase it never saw: the defining file's card is relevant (likely answer), irrelevant cards are folded, the answer names the value",
    result?.stoppedBy === "finished" && cards.length >= 3 && defining.length === 1 && defining[0].relevant && defining[0].likely &&
    irrelevant.length >= 1 && irrelevant.every((c) => !c.open) && result.answer.includes(task.value) && answer.includes(task.value),
    JSON.stringify({ question: task.question, value: task.value, definition: d, cards, answer: result?.answer, stoppedBy: result?.stoppedBy }));
  return done.enginePid;
}
