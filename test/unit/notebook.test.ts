// Jupyter notebooks are read as their cells, in the percent format, outputs left out.
import { test } from "node:test";
import assert from "node:assert/strict";
import { notebookText } from "../../src/core/workspace/notebook";
import { readWorkspace } from "../../src/core/workspace/reader";
import { tempDir, writeTree } from "../support/fixtures";

/** A notebook as Jupyter writes it (nbformat 4): sources as lists of lines, outputs beside them. */
function notebook(cells: { kind: "code" | "markdown" | "raw"; source: string; image?: number }[], language = "python"): string {
  return JSON.stringify({
    nbformat: 4, nbformat_minor: 5,
    metadata: { kernelspec: { name: language, display_name: language, language }, language_info: { name: language } },
    cells: cells.map((c) => ({
      cell_type: c.kind, metadata: {}, source: c.source.split(/(?<=\n)/),
      ...(c.kind === "code" ? {
        execution_count: 1,
        outputs: c.image ? [{ output_type: "display_data", data: { "image/png": "iVBORw0KGgo".padEnd(c.image, "A"), "text/plain": ["<Figure>"] }, metadata: {} }] : [],
      } : {}),
    })),
  }, null, 1);
}

test("a notebook's cells become percent-format text: code as it is, markdown commented, outputs left out", () => {
  const json = notebook([
    { kind: "markdown", source: "# Retry policy\n\nThe delay doubles.\n" },
    { kind: "code", source: "def delay(attempt):\n    return 2 ** attempt\n", image: 5000 },
    { kind: "code", source: "" },
    { kind: "raw", source: "raw text" },
  ]);
  const got = notebookText(json)!;
  assert.equal(got.text, [
    "# %% [markdown]", "# # Retry policy", "#", "# The delay doubles.", "",
    "# %%", "def delay(attempt):", "    return 2 ** attempt", "",
    "# %%", "", "",
    "# %% [raw]", "# raw text", "",
  ].join("\n"));
  assert.ok(!got.text.includes("iVBOR"), "no output");
  // Line 7 (1-based) is the second cell's first line of code.
  assert.equal(got.text.split("\n")[6], "def delay(attempt):");
  assert.equal(got.cellOfLine[6], 1);
  assert.equal(got.cellOfLine[got.text.split("\n").indexOf("# raw text")], 3);
});

test("the notebook's language gives the comment; what is not a notebook is not one", () => {
  assert.ok(notebookText(notebook([{ kind: "markdown", source: "Hi" }, { kind: "code", source: "let x = 1;" }], "typescript"))!.text.startsWith("// %% [markdown]\n// Hi\n\n// %%\nlet x = 1;\n"));
  assert.equal(notebookText("{\"not\": \"a notebook\"}"), undefined);
  assert.equal(notebookText("[1, 2]"), undefined);
  assert.equal(notebookText("{ cut off"), undefined);
});

test("the reader reads a notebook as its cells: one whose outputs pass the size cap is read, one whose cells do is not", async () => {
  const dir = tempDir();
  try {
    writeTree(dir.path, {
      // 3 MiB of image output around two small cells.
      "analysis.ipynb": notebook([{ kind: "markdown", source: "Plots" }, { kind: "code", source: "plot(retry_delays)\n", image: 3 << 20 }]),
      "huge.ipynb": notebook([{ kind: "code", source: "x = 1\n".repeat(300_000) }]),
      "broken.ipynb": "{ not json, and large: " + "x".repeat(2 << 20),
      "small-broken.ipynb": "{ not json }\n",
    });
    const { files, skipped } = await readWorkspace([dir.path]);
    assert.deepEqual(files.map((f) => f.path), ["analysis.ipynb", "small-broken.ipynb"]);
    assert.equal(files[0]!.text, "# %% [markdown]\n# Plots\n\n# %%\nplot(retry_delays)\n");
    assert.ok(files[0]!.bytes > 3 << 20, "the file's own size is kept");
    assert.equal(files[1]!.text, "{ not json }\n", "not a notebook inside: read as the text it is");
    assert.deepEqual(Object.fromEntries(skipped.map((s) => [s.path, `${s.reason}: ${s.detail}`])), {
      "broken.ipynb": `too-large: more than ${1 << 20} bytes`,
      "huge.ipynb": `too-large: its cells hold more than ${1 << 20} characters`,
    });
  } finally {
    dir.dispose();
  }
});
