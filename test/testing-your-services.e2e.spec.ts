/**
 * The README's "Testing your services" examples (controller tests and end to end) and
 * docs/emulator.md's "Testing a caller on its own", run exactly as they are written there: the blocks of those documents that name a file (the quick
 * starts' controllers and the test files) are written to test/.snippets/e2e/, and the test files
 * among them are imported here, so that their describe() blocks run as part of this file. The package
 * is imported by its name, resolved to dist/ through the package's exports, as in an application.
 * test/docs.spec.ts type-checks the same blocks; this runs them. Nothing to keep in sync by hand.
 * Identity-Aware Proxy's test is docs/iap.md's, run by doc-recipes-grpc-iap.e2e.spec.ts.
 */
import { readFileSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { codeBlocks, writeBlocks } from './utils/markdown.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const OUT = join(root, 'test/.snippets/e2e');

/** Writes the named ts blocks of `doc` under OUT and returns the path of its block named `file`. */
function writeDoc(doc: string, file: string): string {
  const dir = join(OUT, doc.replace(/\.md$/, '').replace(/\//g, '__'));
  const blocks = codeBlocks(readFileSync(join(root, doc), 'utf8'), doc).filter(
    (block) => block.lang === 'ts' && block.file !== undefined,
  );
  if (!blocks.some((block) => block.file === file)) throw new Error(`${doc} has no block named ${file}`);
  writeBlocks(blocks, dir);
  return join(dir, file);
}

rmSync(OUT, { recursive: true, force: true });
const tests = [
  writeDoc('README.md', 'orders/test/orders.controller.spec.ts'),
  writeDoc('README.md', 'orders/test/orders.e2e-spec.ts'),
  writeDoc('docs/emulator.md', 'test/caller.e2e-spec.ts'),
];
for (const test of tests) await import(pathToFileURL(test).href);
