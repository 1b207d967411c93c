// Entry point for @vscode/test-electron (extensionTestsPath): the same in-host suite, failing the
// run when any test fails.
const { run: runSuite } = require("./inHost");

async function run() {
  const { passed, failed, results } = await runSuite();
  for (const r of results) console.log(`${r.ok ? "ok" : "not ok"} - ${r.name}${r.ok ? "" : `\n${r.error}`}`);
  console.log(`${passed} passed, ${failed} failed`);
  if (failed) throw new Error(`${failed} in-host tests failed`);
}

module.exports = { run };
