// A folder's own VS Code settings, for the CLI: files.exclude and search.exclude from the nearest
// .vscode/settings.json, read as VS Code reads it (comments, trailing commas).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { findFolderSettings, folderExcludes, withoutComments } from "../../src/core/workspace/folderSettings";
import { tempDir } from "../support/fixtures";

test("settings with comments and trailing commas read as VS Code reads them; strings keep what looks like comments", () => {
  const text = `{
  // line comment, with a comma before the brace: ,}
  "files.exclude": { "**/*.gen.ts": true, /* block, } */ "docs//old": true, },
  "a": "http://x/*y*/z", "b": "say \\"hi\\" // not a comment", "c": [1, 2,],
}`;
  assert.deepEqual(JSON.parse(withoutComments(text)), {
    "files.exclude": { "**/*.gen.ts": true, "docs//old": true }, a: "http://x/*y*/z", b: 'say "hi" // not a comment', c: [1, 2],
  });
  assert.equal(withoutComments('{"a": 1 /* unterminated'), '{"a": 1  ');
});

test("the nearest settings file at or above the folder, no higher than its repository's top, gives both settings' patterns", async () => {
  const dir = tempDir();
  try {
    const repo = join(dir.path, "repo");
    mkdirSync(join(repo, ".git"), { recursive: true });
    mkdirSync(join(repo, ".vscode"), { recursive: true });
    mkdirSync(join(repo, "packages", "app", "src"), { recursive: true });
    writeFileSync(join(repo, ".vscode", "settings.json"), `{
      // generated code and old docs hidden
      "files.exclude": { "**/*.gen.ts": true, "**/keep.ts": false },
      "search.exclude": { "docs/old": true, },
      "editor.tabSize": 2,
      "files.encoding": "shiftjis",
    }`);
    const found = await folderExcludes(join(repo, "packages", "app"));
    assert.equal(found.file, join(repo, ".vscode", "settings.json"));
    assert.equal(found.problem, undefined);
    assert.deepEqual([found.base, found.filesEncoding], [repo, "shiftjis"]);
    assert.deepEqual(found.excludes, [
      { base: repo, setting: "files.exclude", patterns: { "**/*.gen.ts": true, "**/keep.ts": false } },
      { base: repo, setting: "search.exclude", patterns: { "docs/old": true } },
    ]);
    // Above the repository's top is another project's business.
    mkdirSync(join(dir.path, ".vscode"), { recursive: true });
    writeFileSync(join(dir.path, ".vscode", "settings.json"), `{"files.exclude": {"**/*": true}}`);
    const other = join(dir.path, "other");
    mkdirSync(join(other, ".git"), { recursive: true });
    assert.equal(findFolderSettings(other), undefined);
    assert.deepEqual(await folderExcludes(other), { excludes: [] });
    // Settings without either pattern setting still say the folder they are for.
    writeFileSync(join(repo, ".vscode", "settings.json"), `{"files.encoding": "iso88592"}`);
    assert.deepEqual(await folderExcludes(repo), { excludes: [], file: join(repo, ".vscode", "settings.json"), base: repo, filesEncoding: "iso88592" });
  } finally {
    dir.dispose();
  }
});

test("a settings file that does not parse is named with the reason, and nothing is left out for it", async () => {
  const dir = tempDir();
  try {
    mkdirSync(join(dir.path, ".git"));
    mkdirSync(join(dir.path, ".vscode"));
    writeFileSync(join(dir.path, ".vscode", "settings.json"), `{"files.exclude": {"**/*.ts": true}`);
    const found = await folderExcludes(dir.path);
    assert.deepEqual(found.excludes, []);
    assert.match(found.problem ?? "", /settings\.json could not be read as settings \(.+\): its files\.exclude, search\.exclude and files\.encoding are not applied$/);
    writeFileSync(join(dir.path, ".vscode", "settings.json"), `[1, 2]`);
    assert.match((await folderExcludes(dir.path)).problem ?? "", /does not hold an object of settings/);
  } finally {
    dir.dispose();
  }
});
