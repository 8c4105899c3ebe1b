/**
 * The local recipes of docs/grpc.md and docs/iap.md, run exactly as they are written there: the
 * blocks of each document that name a file (its ts modules and its .proto) are written to
 * test/.snippets/recipes/, and each document's test block is imported here, so that its describe()
 * runs as part of this file: the gRPC server and client modules with the emulator, the IAP module
 * with assertions from the emulator's URL that the doc's curl uses. The package is imported by its
 * name, resolved to dist/ through the package's exports, as in an application; test/docs.spec.ts
 * type-checks the same blocks.
 */
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll } from 'vitest';
import { codeBlocks, writeBlocks } from './utils/markdown.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
// Not test/.snippets/e2e: testing-your-services.e2e.spec.ts empties that folder when it loads.
const OUT = join(root, 'test/.snippets/recipes');
/** What the recipes' modules read at import; set by their test blocks, put back after this file. */
const ENV = ['PORT', 'SERVICE_URL', 'CERTS_URL', 'ORDERS_URL', 'GCE_METADATA_HOST', 'IAP_AUDIENCE', 'IAP_CERTS_URL'];

/** Writes the named ts and proto blocks of `doc` under OUT and returns the path of its block named `file`. */
function writeDoc(doc: string, file: string): string {
  const dir = join(OUT, doc.replace(/\.md$/, '').replace(/\//g, '__'));
  const blocks = codeBlocks(readFileSync(join(root, doc), 'utf8'), doc).filter(
    (block) => (block.lang === 'ts' || block.lang === 'proto') && block.file !== undefined,
  );
  if (!blocks.some((block) => block.file === file)) throw new Error(`${doc} has no block named ${file}`);
  writeBlocks(blocks, dir);
  return join(dir, file);
}

const saved = new Map(ENV.map((name) => [name, process.env[name]]));
afterAll(() => {
  for (const [name, value] of saved) {
    if (value === undefined) delete process.env[name];
    else process.env[name] = value;
  }
});

rmSync(OUT, { recursive: true, force: true });
const tests = [writeDoc('docs/grpc.md', 'test/grpc.e2e-spec.ts'), writeDoc('docs/iap.md', 'test/reports.e2e-spec.ts')];
for (const test of tests) await import(pathToFileURL(test).href);
