// How a run shares the model's context: windows filled with codebase, the answer's room found
// when it comes, and refusals that name the setting to change.
import { test } from "node:test";
import assert from "node:assert/strict";
import { EXTRACT_ROOM_STEP, fitAnswer, layoutReading, readingOrder, type LayoutInput } from "../../src/core/wim/layout";

const base: LayoutInput = { sizes: [], contextLimit: 32768, opening: 60, extract: 70, marginTokens: 128, answerFixed: 60, answerTokens: 512, perMargin: 140 };

test("a window holds all of the context but the opening and one margin's room: at least 80% is codebase", () => {
  // 200 segments of 4,000 tokens: a million-token codebase.
  const sizes = Array.from({ length: 200 }, () => 4000);
  const layout = layoutReading({ ...base, sizes });
  assert.ok("windows" in layout);
  // The extractive prompt's room is a whole step, whatever the question's length within it.
  assert.equal(layout.windowTokens, 32768 - 60 - EXTRACT_ROOM_STEP - 128);
  assert.ok(layout.windowTokens / 32768 >= 0.8);
  assert.equal(layout.windowCount, Math.ceil(200 / Math.floor(layout.windowTokens / 4000)));
  assert.equal(layout.contextTokens, 32768, "windows use the whole context");
  // In order, each window full but for the last.
  assert.deepEqual(layout.windows.slice(0, 9), [0, 0, 0, 0, 0, 0, 0, 0, 1]);
});

test("questions of different lengths lay a codebase out in the same windows; a segment that needs the rounded room still fits", () => {
  const sizes = Array.from({ length: 60 }, (_, i) => 1500 + ((i * 37) % 900));
  const of = (extract: number) => {
    const layout = layoutReading({ ...base, sizes, extract });
    assert.ok("windows" in layout);
    return layout;
  };
  const short = of(40);
  assert.ok(short.windowCount > 1);
  for (const extract of [41, 70, 199, EXTRACT_ROOM_STEP]) assert.deepEqual(of(extract).windows, short.windows, `an extractive prompt of ${extract} tokens`);
  assert.equal(of(EXTRACT_ROOM_STEP + 1).windowTokens, short.windowTokens - EXTRACT_ROOM_STEP, "a longer prompt takes the next step");
  // A codebase that fits one window with the exact room is read in one, however close.
  const exactRoom = 32768 - 60 - 70 - 128;
  const snug = layoutReading({ ...base, sizes: [exactRoom - 100, 100] });
  assert.ok("windows" in snug && snug.windowCount === 1);
  // A segment as large as the exact room allows is read, in a window of the exact room.
  const largest = 32768 - 60 - 70 - 128;
  const tight = layoutReading({ ...base, sizes: [largest, 10] });
  assert.ok("windows" in tight && tight.windowTokens === largest && tight.windowCount === 2);
});

test("one window asks for what the codebase, its margins and its answer need, and no more", () => {
  const layout = layoutReading({ ...base, sizes: [1000, 1000] });
  assert.ok("windows" in layout);
  assert.equal(layout.windowCount, 1);
  assert.equal(layout.contextTokens, 60 + 2000 + Math.max(70 + 128, 60 + 2 * 140 + 512));
});

test("what cannot fit is refused naming the setting to change", () => {
  const segment = layoutReading({ ...base, contextLimit: 4096, sizes: [5000] });
  assert.ok(!("windows" in segment) && segment.cause === "segmentTokens" && /5,000-token segment does not fit/.test(segment.detail));
  const margin = layoutReading({ ...base, contextLimit: 4096, marginTokens: 2000, sizes: [3000] });
  assert.ok(!("windows" in margin) && margin.cause === "marginTokens" && /no room for 2,000-token margins/.test(margin.detail));
  const answer = layoutReading({ ...base, contextLimit: 4096, answerTokens: 5000, sizes: [100] });
  assert.ok(!("windows" in answer) && answer.cause === "answerTokens");
});

test("the answer's room: the codebase's end moves back a segment at a time, and margins go only when that is not enough", () => {
  const ends = [100, 200, 300, 400];
  const scores: Record<number, number> = { 0: 0.9, 1: 0.6, 2: 0.7, 3: 0.6 };
  const fit = (perMargin: number, contextTokens: number) => fitAnswer({
    kept: [0, 1, 2, 3], score: (id) => scores[id]!, promptLength: (ids) => 20 + ids.length * perMargin, ends, opening: 50, contextTokens, answerTokens: 30,
  });
  assert.deepEqual(fit(10, 1000), { kept: [0, 1, 2, 3], dropped: [], codebaseEnd: 400 }, "everything fits");
  assert.deepEqual(fit(10, 320), { kept: [0, 1, 2, 3], dropped: [], codebaseEnd: 200 }, "two segments make room");
  // Even with no codebase left, four 100-token margins do not fit: the weakest go, the later first among equals.
  const tight = fit(100, 380);
  assert.deepEqual(tight.kept, [0, 2]);
  assert.deepEqual(tight.dropped.map((d) => d.segment), [1, 3]);
  // With two margins gone there is room again for the first segment of codebase: it stays.
  assert.equal(tight.codebaseEnd, 100);
  assert.ok(tight.dropped.every((d) => /no room/.test(d.reason)));
});

test("several windows are read likeliest first, each window whole and in its own order, the same windows for any scores", () => {
  const windows = [0, 0, 0, 1, 1, 2, 2, 2];
  // The best segment of window 2 outscores window 0's; window 1 has no match.
  const scores = [0, 1.5, 0, 0, 0, 0.2, 4, 0];
  const placed = readingOrder(windows, scores);
  assert.deepEqual(placed.order, [5, 6, 7, 0, 1, 2, 3, 4]);
  assert.deepEqual(placed.windows, [0, 0, 0, 1, 1, 1, 2, 2], "windows numbered in reading order");
  // Every question's order groups the same segments together: what a window holds never changes.
  const groups = (p: { order: number[]; windows: number[] }): string[] => [...new Set(p.windows)].map((w) => p.order.filter((_, i) => p.windows[i] === w).join()).sort();
  for (const other of [undefined, [9, 0, 0, 0, 0, 0, 0, 0], [0, 0, 0, 0, 7, 0, 0, 0]]) assert.deepEqual(groups(readingOrder(windows, other)), groups(placed));
  assert.deepEqual(readingOrder(windows).order, [0, 1, 2, 3, 4, 5, 6, 7], "no scores: the path order");
  assert.deepEqual(readingOrder(windows, [0, 0, 0, 1, 0, 0, 0, 1]).order, [3, 4, 5, 6, 7, 0, 1, 2], "a tie keeps the earlier window first");
  assert.deepEqual(readingOrder([]), { order: [], windows: [] });
});
