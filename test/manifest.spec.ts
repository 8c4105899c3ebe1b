import { readdirSync, readFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * Every package that library code imports must be something a consumer actually gets:
 * a `dependencies` or `peerDependencies` entry. devDependencies are only present in this
 * repository, so an import that is satisfied by one of them breaks for users at runtime
 * (or, for type-only imports, in their type-check of our .d.ts files).
 */

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const libDir = join(root, 'lib');
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));

/** `@scope/name/sub/path` → `@scope/name`, `name/sub` → `name`. */
function packageNameOf(specifier: string): string {
  const parts = specifier.split('/');
  return specifier.startsWith('@') ? parts.slice(0, 2).join('/') : parts[0]!;
}

/**
 * Bare package names imported by a TypeScript source: static `import … from`, side-effect
 * `import '…'`, `export … from`, dynamic `import('…')` and `require('…')`. Uses TypeScript's
 * own pre-processor so imports inside comments and strings are not picked up.
 * Relative specifiers and Node builtins are ignored.
 */
function importedPackages(source: string): string[] {
  const { importedFiles } = ts.preProcessFile(source, true, true);
  return importedFiles
    .map((f) => f.fileName)
    .filter((spec) => !spec.startsWith('.') && !spec.startsWith('/') && !isBuiltin(spec))
    .map(packageNameOf);
}

function undeclared(packages: Iterable<string>, manifest: { dependencies?: object; peerDependencies?: object }) {
  const declared = new Set([
    ...Object.keys(manifest.dependencies ?? {}),
    ...Object.keys(manifest.peerDependencies ?? {}),
  ]);
  return [...new Set(packages)].filter((name) => !declared.has(name)).sort();
}

function tsFilesUnder(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile() && e.name.endsWith('.ts'))
    .map((e) => join(e.parentPath, e.name))
    .sort();
}

describe('package manifest', () => {
  it('scanner reports undeclared imports (self-check)', () => {
    const source = [
      "import type { A } from 'declared-peer/sub';",
      "import { b } from 'left-pad';",
      "export * from '@scope/undeclared/deep/path';",
      "import './relative.js';",
      "import { readFile } from 'node:fs/promises';",
      "// import 'commented-out';",
      "async function f() { return import('dynamic-only'); }",
    ].join('\n');
    expect(importedPackages(source)).toEqual(['declared-peer', 'left-pad', '@scope/undeclared', 'dynamic-only']);
    expect(
      undeclared(importedPackages(source), {
        peerDependencies: { 'declared-peer': '*' },
        dependencies: {},
      }),
    ).toEqual(['@scope/undeclared', 'dynamic-only', 'left-pad']);
    // devDependencies do not count as declared.
    expect(undeclared(['left-pad'], { devDependencies: { 'left-pad': '*' } } as object)).toEqual(['left-pad']);
  });

  it('every package imported from lib/ is a dependency or peerDependency', () => {
    const files = tsFilesUnder(libDir);
    expect(files.length).toBeGreaterThan(0);

    const importers = new Map<string, string[]>();
    for (const file of files) {
      for (const name of importedPackages(readFileSync(file, 'utf8'))) {
        importers.set(name, [...(importers.get(name) ?? []), relative(root, file)]);
      }
    }
    // Guards against the scanner silently finding nothing.
    expect(importers.has('@nestjs/common')).toBe(true);

    const missing = undeclared(importers.keys(), pkg).map(
      (name) => `${name} (imported by ${importers.get(name)!.join(', ')})`,
    );
    expect(missing, 'imported from lib/ but not in dependencies/peerDependencies').toEqual([]);
  });
});
