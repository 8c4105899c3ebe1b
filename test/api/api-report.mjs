/**
 * `npm run api:report`: writes docs/api/<entry>.api.md for each entry point of package.json
 * `exports` from the built declarations (dist/), and removes the reports of entry points that
 * are gone. Review the diff: it is the change to the public API.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadPackageApi, renderReport, REPORT_DIR, reportFile } from './index.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '../..');
const api = loadPackageApi({ root });
mkdirSync(join(root, REPORT_DIR), { recursive: true });

// All rendered before any is written: a failure leaves the checked-in reports as they were.
const reports = api.entries.map((entry) => ({ file: reportFile(entry), text: renderReport(api, entry) }));
const written = new Set();
for (const { file, text } of reports) {
  writeFileSync(join(root, file), text);
  written.add(basename(file));
  console.log(`wrote ${file}`);
}
for (const name of readdirSync(join(root, REPORT_DIR))) {
  if (!name.endsWith('.api.md') || written.has(name)) continue;
  rmSync(join(root, REPORT_DIR, name));
  console.log(`removed ${REPORT_DIR}/${name} (no such entry point)`);
}
