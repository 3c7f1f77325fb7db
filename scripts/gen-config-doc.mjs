#!/usr/bin/env node
// Rewrites the configuration reference in docs/OPERATIONS.md from the config key table.
// Needs the TS build (npm run build:ts); a unit test fails when the doc is stale.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const { configReferenceMarkdown } = await import(join(root, 'dist', 'config', 'config-reference.js'));
const docPath = join(root, 'docs', 'OPERATIONS.md');
const doc = readFileSync(docPath, 'utf8');
const re = /(<!-- config-reference:start -->\n)[\s\S]*?(<!-- config-reference:end -->)/;
if (!re.test(doc)) {
  process.stderr.write(`${docPath}: config-reference markers not found\n`);
  process.exit(1);
}
writeFileSync(docPath, doc.replace(re, (_m, a, b) => a + configReferenceMarkdown() + b));
process.stdout.write(`updated ${docPath}\n`);
