import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import {
  entryPoints,
  findUnexportedTypes,
  loadPackageApi,
  renderReport,
  REPORT_DIR,
  reportFile,
  type PackageApi,
} from './api/index.mjs';

/**
 * The public API as the built declarations (dist/) show it:
 *
 * - docs/api/<entry>.api.md is its report, checked in, so that a change to the API shows in the
 *   diff of the change that made it (test/api/api-report.mjs writes them).
 * - No exported signature mentions a type of the package that no entry point exports: a consumer
 *   could see it (hover, errors, a subclass's protected members) but not import it.
 */

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const entries = entryPoints(root);
const UPDATE = 'run `npm run api:report` and review the diff';

describe('built declarations (dist/)', () => {
  let api: PackageApi;

  beforeAll(() => {
    const missing = entries.filter((entry) => !existsSync(entry.file)).map((entry) => relative(root, entry.file));
    if (missing.length > 0) {
      throw new Error(
        `${missing.join(', ')} missing: these tests read the BUILT declarations, run \`npm run build\` first.`,
      );
    }
    api = loadPackageApi({ root });
  });

  describe('API report (docs/api/)', () => {
    it.each(entries)('$specifier: the checked-in report is that of dist/', (entry) => {
      const file = join(root, reportFile(entry));
      const checkedIn = existsSync(file) ? readFileSync(file, 'utf8') : '(missing)';
      expect(checkedIn, `${reportFile(entry)} is not the API of ${entry.specifier}: ${UPDATE}`).toBe(
        renderReport(api, entry),
      );
    });

    it('has no report of an entry point that package.json no longer exports', () => {
      const expected = new Set(entries.map((entry) => basename(reportFile(entry))));
      const dir = join(root, REPORT_DIR);
      const stale = (existsSync(dir) ? readdirSync(dir) : []).filter(
        (name) => name.endsWith('.api.md') && !expected.has(name),
      );
      expect(stale, `reports of entry points that are gone: ${UPDATE}`).toEqual([]);
    });
  });

  it('every type of the package that an exported signature mentions is exported by some entry point', () => {
    const violations = findUnexportedTypes(api);
    expect(
      violations,
      `Types of the package mentioned by exported declarations but exported by no entry point ` +
        `(export them, or stop mentioning them):\n  ${violations.join('\n  ')}\n`,
    ).toEqual([]);
  });
});

describe('the unexported-types check', () => {
  it('finds them in a made-up package: interface member, base class, typeof, import(); not @internal or private ones', () => {
    // In memory, under the repository so that `@nestjs/common` resolves from its node_modules.
    const dir = join(root, 'test/api/.fixture');
    const files = new Map([
      [
        join(dir, 'index.d.ts'),
        [
          "import type { Logger } from '@nestjs/common';",
          "import type { Hidden } from './hidden.js';",
          "import { Base, hiddenValue } from './base.js';",
          "export type { Shown } from './hidden.js';",
          'export interface Options { hidden: Hidden; logger: Logger; shown: import("./hidden.js").Shown; when: Promise<Date> }',
          'export declare class Child extends Base { options(): Options }',
          'export declare class Guarded {',
          '  /** Left to subclasses of the package. @internal */',
          '  protected secret: Hidden;',
          '  private other: Hidden;',
          '  protected kind: typeof hiddenValue;',
          '  protected made(): import("./hidden.js").Made;',
          '}',
        ].join('\n'),
      ],
      [
        join(dir, 'hidden.d.ts'),
        'export interface Hidden { a: string }\nexport interface Shown { b: string }\nexport interface Made { c: string }',
      ],
      [join(dir, 'base.d.ts'), 'export declare class Base {}\nexport declare const hiddenValue: unique symbol;'],
    ]);
    const fixture = loadPackageApi({
      root: dir,
      packageDir: dir,
      entries: [{ name: 'index', specifier: 'fixture', file: join(dir, 'index.d.ts') }],
      files,
    });
    expect(findUnexportedTypes(fixture)).toEqual([
      'index: Child -> Base (base.d.ts)',
      'index: Guarded.kind -> hiddenValue (base.d.ts)',
      'index: Guarded.made -> Made (hidden.d.ts)',
      'index: Options.hidden -> Hidden (hidden.d.ts)',
    ]);
  });
});
