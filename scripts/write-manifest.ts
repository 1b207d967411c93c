// npm run manifest: writes package.json's contributes.configuration from the option table
// (src/shared/settings.ts). test/unit/settings.test.ts fails until it has been run after a change.
import { readFileSync, writeFileSync } from "node:fs";
import { manifestProperties } from "../src/shared/settings";

const pkg = JSON.parse(readFileSync("package.json", "utf8"));
pkg.contributes.configuration.properties = manifestProperties();
writeFileSync("package.json", JSON.stringify(pkg, null, 2) + "\n");
console.log(`package.json: ${Object.keys(pkg.contributes.configuration.properties).length} settings written from the option table`);
