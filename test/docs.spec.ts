import { existsSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { anchors, codeBlocks, links, writeBlocks, type CodeBlock } from './utils/markdown.js';

/**
 * The documentation is checked like code:
 *
 * - Every ```ts block of README.md, docs/*.md and sample-app/README.md is written to
 *   test/.snippets/ (gitignored) as its own module, named by its first line when that is a path
 *   comment (`// orders/src/app.module.ts`, so the document's other blocks can import it), and all
 *   of them are compiled in one TypeScript program with the repository's compiler options.
 *   `nestjs-cloud-run-auth` resolves as in an application that installed the package: through
 *   package.json `exports` (the package's self-reference) to the built dist/.
 *   A block marked ```ts fragment is not compiled; README.md has none.
 * - Every link to a file of the repository resolves, and every `#anchor` (in the same document
 *   or in another .md file) is a heading there.
 */

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const SNIPPETS = join(root, 'test/.snippets/docs');
const TS_LANGS = new Set(['ts', 'typescript']);
const FLAGS = new Set(['fragment']);

/** The documents checked, relative to the repository root. */
function documents(): string[] {
  const docs = readdirSync(join(root, 'docs'))
    .filter((name) => name.endsWith('.md'))
    .map((name) => `docs/${name}`);
  return ['README.md', 'BENCHMARKS.md', 'sample-app/README.md', ...docs.sort()];
}

/** A canary document with a known mistake in each kind of check: proves the checks can fail. */
const CANARY_DOC = 'test/canary.md';
const CANARY = [
  '# Canary',
  '',
  '```ts',
  "import { CloudRunAuthModule } from 'nestjs-cloud-run-auth';",
  '',
  "CloudRunAuthModule.forRoot({ servics: [{ name: 'orders', url: 'https://orders.example.com' }] });",
  '```',
  '',
  '```ts fragment',
  'this is not TypeScript, and is not compiled',
  '```',
  '',
  'See [the canary](#canary), [nothing](#no-such-heading) and [a missing file](nowhere.md).',
  '',
].join('\n');

/** TypeScript's compiler options of the repository (tsconfig.json), for type-checking only. */
function compilerOptions(): ts.CompilerOptions {
  const file = join(root, 'tsconfig.json');
  const { config, error } = ts.readConfigFile(file, (path) => ts.sys.readFile(path));
  if (error) throw new Error(ts.flattenDiagnosticMessageText(error.messageText, '\n'));
  const { options } = ts.parseJsonConfigFileContent(config, ts.sys, root, undefined, file);
  return {
    ...options,
    noEmit: true,
    declaration: false,
    sourceMap: false,
    rootDir: undefined,
    outDir: undefined,
    incremental: false,
  };
}

type Blocks = Map<string, CodeBlock>;

/** `doc:line: TSxxxx message` for each diagnostic, at its line in the document. */
function describeDiagnostics(diagnostics: readonly ts.Diagnostic[], blocks: Blocks): string[] {
  return diagnostics.map((diagnostic) => {
    const message = `TS${diagnostic.code} ${ts.flattenDiagnosticMessageText(diagnostic.messageText, '\n')}`;
    const file = diagnostic.file;
    const block = file ? blocks.get(resolve(file.fileName)) : undefined;
    if (!file || !block) return `${file ? relative(root, file.fileName) : '(options)'}: ${message}`;
    const { line } = file.getLineAndCharacterOfPosition(diagnostic.start ?? 0);
    return `${block.doc}:${block.line + 1 + line} (block at line ${block.line}): ${message}`;
  });
}

/** `doc:line: target` for each link whose file or heading does not exist. */
function brokenLinks(doc: string, markdown: string, read: (doc: string) => string | undefined): string[] {
  const broken: string[] = [];
  for (const { line, target } of links(markdown, doc)) {
    if (/^[a-z][a-z0-9+.-]*:/i.test(target)) continue; // https:, mailto:
    const [path = '', anchor] = target.split('#') as [string, string | undefined];
    const targetDoc = path === '' ? doc : relative(root, resolve(root, dirname(doc), decodeURI(path)));
    const text = read(targetDoc);
    if (text === undefined && !existsSync(join(root, targetDoc))) {
      broken.push(`${doc}:${line}: ${target} (no such file)`);
    } else if (anchor !== undefined) {
      if (text === undefined || !targetDoc.endsWith('.md')) {
        broken.push(`${doc}:${line}: ${target} (an anchor in a file that is not Markdown)`);
      } else if (!anchors(text).has(decodeURIComponent(anchor))) {
        broken.push(`${doc}:${line}: ${target} (no heading "#${anchor}" in ${targetDoc})`);
      }
    }
  }
  return broken;
}

/** Writes the ts blocks of every document (and the canary) to test/.snippets/ and compiles them in one program. */
function compileSnippets(read: (doc: string) => string | undefined) {
  if (!existsSync(join(root, 'dist/esm/index.d.ts')) || !existsSync(join(root, 'dist/esm/testing/index.d.ts'))) {
    throw new Error('dist/ is missing: run `npm run build` first (`npm test` does it via pretest).');
  }
  rmSync(SNIPPETS, { recursive: true, force: true });
  const blocks: Blocks = new Map();
  const compiled: CodeBlock[] = [];
  for (const doc of [...documents(), CANARY_DOC]) {
    const tsBlocks = codeBlocks(read(doc)!, doc).filter((block) => TS_LANGS.has(block.lang));
    for (const block of tsBlocks) {
      const unknown = block.flags.filter((flag) => !FLAGS.has(flag));
      if (unknown.length > 0) throw new Error(`${doc}:${block.line}: unknown flag ${unknown.join(' ')}`);
    }
    const toCompile = tsBlocks.filter((block) => !block.flags.includes('fragment'));
    const dir = join(SNIPPETS, doc.replace(/\.md$/, '').replace(/\//g, '__'));
    for (const [path, block] of writeBlocks(toCompile, dir)) blocks.set(path, block);
    if (doc !== CANARY_DOC) compiled.push(...toCompile);
  }
  // One program for every snippet: the library's and Nest's declarations are read once.
  const program = ts.createProgram([...blocks.keys()], compilerOptions());
  const all = describeDiagnostics(ts.getPreEmitDiagnostics(program), blocks);
  return {
    compiled,
    canaryErrors: all.filter((line) => line.startsWith(`${CANARY_DOC}:`)),
    snippetErrors: all.filter((line) => !line.startsWith(`${CANARY_DOC}:`)),
  };
}

describe('documentation', () => {
  const texts = new Map<string, string>();
  const read = (doc: string) => {
    if (doc === CANARY_DOC) return CANARY;
    if (!texts.has(doc)) {
      const path = join(root, doc);
      if (!existsSync(path) || !statSync(path).isFile()) return undefined;
      texts.set(doc, readFileSync(path, 'utf8'));
    }
    return texts.get(doc);
  };
  /** Compiles every snippet once, on first use; setup mistakes (a duplicate file name…) fail the test that asks. */
  let compilation: { snippetErrors: string[]; canaryErrors: string[]; compiled: CodeBlock[] } | undefined;
  const compile = () => (compilation ??= compileSnippets(read));

  it('every ts block compiles against the built package', () => {
    const { compiled, snippetErrors } = compile();
    expect(compiled.length).toBeGreaterThanOrEqual(15); // the extractor found the blocks
    expect(snippetErrors).toEqual([]);
  });

  it('the README has no fragments: everything a newcomer copies compiles', () => {
    const fragments = codeBlocks(read('README.md')!, 'README.md').filter(
      (block) => TS_LANGS.has(block.lang) && block.flags.includes('fragment'),
    );
    expect(fragments.map((block) => `README.md:${block.line}`)).toEqual([]);
  });

  it('every link to a file or heading resolves', () => {
    const broken = documents().flatMap((doc) => brokenLinks(doc, read(doc)!, read));
    expect(broken).toEqual([]);
  });

  it('reports a broken snippet and a broken link with document and line (canary)', () => {
    const { canaryErrors } = compile();
    expect(canaryErrors).toHaveLength(1);
    expect(canaryErrors[0]).toMatch(
      /^test\/canary\.md:6 \(block at line 3\): TS\d+ Object literal may only specify known properties.*'servics'/,
    );
    expect(brokenLinks(CANARY_DOC, CANARY, read)).toEqual([
      'test/canary.md:13: #no-such-heading (no heading "#no-such-heading" in test/canary.md)',
      'test/canary.md:13: nowhere.md (no such file)',
    ]);
  });
});
