import { readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The shape of lib/: the two halves of the product (outbound, inbound) stand on shared code
 * only, the module wires them, nothing imports in a circle (type-only imports included, but for
 * the back edges listed below), and each options area is one `<area>.options.ts` file.
 */

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const libDir = join(root, 'lib');

/** Which top-level folders of lib/ each folder may import from (besides itself). */
const ALLOWED: Record<string, string[]> = {
  shared: [],
  outbound: ['shared'],
  inbound: ['shared'],
  module: ['shared', 'outbound', 'inbound'],
  // The emulator stands on shared code; the test caller guard is a CloudRunAuthGuard.
  testing: ['shared', 'inbound'],
  cli: ['testing', 'shared', 'inbound', 'outbound', 'module'],
  grpc: ['outbound'], // lib/grpc/index.ts, the nestjs-cloud-run-auth/grpc entry point
  // The nestjs-cloud-run-auth/terminus entry point: reads the module's cache, registry and key store.
  terminus: ['shared', 'outbound', 'inbound', 'module'],
  '.': ['module', 'shared', 'outbound', 'inbound'], // lib/index.ts
};

/**
 * Type-only imports that may close a cycle: an options file naming the class its resolved
 * options are injected into. Erased from both builds; a test holds each to `import type`.
 */
const TYPE_ONLY_BACK_EDGES: readonly (readonly [from: string, to: string])[] = [
  // InboundOptions.mount takes the guard class; the guard injects ResolvedInboundOptions.
  ['inbound/inbound.options.ts', 'inbound/guard/cloud-run-auth.guard.ts'],
];

type Graph = Map<string, string[]>;

/** Relative imports of every .ts file under lib/, as paths relative to lib/. */
function importGraph(): Graph {
  const files = readdirSync(libDir, { recursive: true, withFileTypes: true })
    .filter((entry) => entry.isFile() && entry.name.endsWith('.ts'))
    .map((entry) => join(entry.parentPath, entry.name));
  const graph: Graph = new Map();
  for (const file of files) {
    const { importedFiles } = ts.preProcessFile(readFileSync(file, 'utf8'), true, true);
    const targets = importedFiles
      .map((f) => f.fileName)
      .filter((spec) => spec.startsWith('.'))
      .map((spec) => relative(libDir, resolve(dirname(file), spec.replace(/\.js$/, '.ts'))));
    graph.set(relative(libDir, file), targets);
  }
  return graph;
}

/** Every cycle found by a depth-first search, each as the list of files around it. */
function findCycles(graph: Graph): string[][] {
  const cycles: string[][] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string) => {
    state.set(node, 'visiting');
    stack.push(node);
    for (const next of graph.get(node) ?? []) {
      if (state.get(next) === 'visiting') cycles.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of graph.keys()) if (!state.has(node)) visit(node);
  return cycles;
}

const folderOf = (file: string) => (file.includes('/') ? file.slice(0, file.indexOf('/')) : '.');

/** Whether every import of `to` in `from` (both relative to lib/) is `import type`. */
function importsTypeOnly(from: string, to: string): boolean {
  const file = join(libDir, from);
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest);
  const imports = source.statements.filter(ts.isImportDeclaration).filter((node) => {
    const spec = (node.moduleSpecifier as ts.StringLiteral).text;
    return relative(libDir, resolve(dirname(file), spec.replace(/\.js$/, '.ts'))) === to;
  });
  return imports.length > 0 && imports.every((node) => node.importClause?.isTypeOnly === true);
}

describe('lib/ architecture', () => {
  const graph = importGraph();

  it('finds cycles (self-check)', () => {
    const sample: Graph = new Map([
      ['a.ts', ['b.ts']],
      ['b.ts', ['c.ts']],
      ['c.ts', ['a.ts']],
      ['d.ts', ['a.ts']],
    ]);
    expect(findCycles(sample)).toEqual([['a.ts', 'b.ts', 'c.ts', 'a.ts']]);
    expect(
      findCycles(
        new Map([
          ['a.ts', ['b.ts']],
          ['b.ts', []],
        ]),
      ),
    ).toEqual([]);
  });

  it('has no import cycle', () => {
    expect(graph.size).toBeGreaterThan(50);
    const withoutBackEdges: Graph = new Map(
      [...graph].map(([file, targets]) => [
        file,
        targets.filter((target) => !TYPE_ONLY_BACK_EDGES.some(([from, to]) => from === file && to === target)),
      ]),
    );
    expect(findCycles(withoutBackEdges).map((cycle) => cycle.join(' -> '))).toEqual([]);
  });

  it('keeps each allowed back edge a type-only import', () => {
    const edges = TYPE_ONLY_BACK_EDGES.map(([from, to]) => `${from} -> ${to}`);
    const typeOnly = TYPE_ONLY_BACK_EDGES.filter(
      ([from, to]) => graph.get(from)?.includes(to) && importsTypeOnly(from, to),
    );
    expect(typeOnly.map(([from, to]) => `${from} -> ${to}`)).toEqual(edges);
  });

  it('keeps each options area in one <area>.options.ts file', () => {
    const files = [...graph.keys()];
    expect(files.filter((file) => file.endsWith('.options.ts')).length).toBeGreaterThanOrEqual(8);
    expect(files.filter((file) => /options/i.test(basename(file)) && !file.endsWith('.options.ts'))).toEqual([]);
  });

  it('imports only existing files', () => {
    const missing = [...graph].flatMap(([file, targets]) =>
      targets.filter((t) => !graph.has(t)).map((t) => `${file} -> ${t}`),
    );
    expect(missing).toEqual([]);
  });

  it('keeps outbound and inbound independent of each other, on shared code only', () => {
    expect(Object.keys(ALLOWED).sort()).toEqual([...new Set([...graph.keys()].map(folderOf))].sort());
    const violations = [...graph].flatMap(([file, targets]) =>
      targets
        .filter((target) => folderOf(target) !== folderOf(file) && !ALLOWED[folderOf(file)]!.includes(folderOf(target)))
        .map((target) => `${file} -> ${target}`),
    );
    expect(violations).toEqual([]);
  });

  it('keeps the guard and the decorators apart: what both need (the identity store, the request readers) is in inbound/', () => {
    const crossing = [...graph].flatMap(([file, targets]) =>
      targets
        .filter(
          (target) =>
            (file.startsWith('inbound/guard/') && target.startsWith('inbound/decorators/')) ||
            (file.startsWith('inbound/decorators/') && target.startsWith('inbound/guard/')),
        )
        .map((target) => `${file} -> ${target}`),
    );
    expect(graph.has('inbound/guard/cloud-run-auth.guard.ts')).toBe(true);
    expect(graph.has('inbound/decorators/caller.decorator.ts')).toBe(true);
    expect(crossing).toEqual([]);
  });
});
