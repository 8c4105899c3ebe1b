import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';
import { USAGE } from '../lib/cli/emulator.args.js';
import { resolveInboundOptions } from '../lib/inbound/inbound.options.js';
import { resolveModuleOptions } from '../lib/module/cloud-run-auth.options.js';
import { resolveServiceDefinitions } from '../lib/outbound/service-definition.options.js';
import { resolveIdTokenCacheOptions } from '../lib/outbound/token/id-token-cache.options.js';
import { TokenProviderRegistry } from '../lib/outbound/token/token-provider.registry.js';
import { resolveTelemetryOptions } from '../lib/shared/telemetry/telemetry.options.js';
import { EMULATOR_DEFAULTS } from '../lib/testing/emulator.interface.js';

/**
 * Every options table of docs/ lists exactly the properties of its options interface, each with
 * the default of its `@default` tag (a required property, which has none: `required`). Where that
 * default is a literal (a number, a boolean, a quoted string, `[]`, `{}`), it is also the value the
 * resolver applies, so the chain docs → JSDoc → code holds.
 *
 * The tables are compared, not generated: their "meaning" column is written for readers (shorter
 * than the JSDoc, with links), and what drifts, which options exist and their defaults, is what
 * is checked. Generated tables would have to copy the JSDoc word for word or use markers in the
 * Markdown, and would still not check the defaults against the code.
 *
 * Defaults are compared after reducing links to their text, removing backticks, unquoting a value
 * quoted whole (`'verify'` is `verify`), dropping a trailing `(remark)` and collapsing spaces:
 * `0` (a free port) and `@default 0 (a free port)` are both `0`.
 *
 * The emulator command's table has no interface behind it: it is checked against the command's
 * --help, which prints the defaults the command applies.
 */

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

interface OptionsTable {
  /** The document, relative to the repository root. */
  doc: string;
  /** The heading line of the table's section, as written; the table is the one with a `default` column under it. */
  heading: string;
  /** The file that declares `type`, relative to the repository root. */
  file: string;
  /** The exported interface or type alias whose properties the table lists. */
  type: string;
  /** What the resolver applies when nothing is set, by option name (options it does not resolve are absent). */
  resolvedDefaults?: () => object;
}

const SOME_CALLER = 'gateway@my-project.iam.gserviceaccount.com';

const TABLES: OptionsTable[] = [
  {
    doc: 'docs/outbound.md',
    heading: '### Module options',
    file: 'lib/module/cloud-run-auth.options.ts',
    type: 'CloudRunAuthModuleOptions',
    resolvedDefaults: () => {
      const { services, prefetch } = resolveModuleOptions({});
      return { services: [...services.values()], prefetch };
    },
  },
  {
    doc: 'docs/outbound.md',
    heading: '### `ServiceDefinition`',
    file: 'lib/outbound/service-definition.options.ts',
    type: 'ServiceDefinition',
    resolvedDefaults: () => {
      const services = resolveServiceDefinitions(
        [{ name: 'orders', url: 'https://orders.example.com' }],
        new TokenProviderRegistry(undefined, undefined),
      );
      const { transport, tokenHeader, authenticate, http } = services.get('orders')!;
      return { transport, tokenHeader, authenticate, http };
    },
  },
  {
    doc: 'docs/outbound.md',
    heading: '### `tokenCache`',
    file: 'lib/outbound/token/id-token-cache.options.ts',
    type: 'IdTokenCacheOptions',
    resolvedDefaults: () => resolveIdTokenCacheOptions(),
  },
  {
    doc: 'docs/credentials.md',
    heading: '## The `credentials` option',
    file: 'lib/outbound/credentials/credentials.options.ts',
    type: 'CredentialsOptions',
  },
  {
    doc: 'docs/inbound.md',
    heading: '## Options',
    file: 'lib/inbound/inbound.options.ts',
    type: 'InboundOptions',
    resolvedDefaults: () => {
      const inbound = resolveInboundOptions({ audience: 'https://orders.example.com', allowedCallers: [SOME_CALLER] })!;
      return { ...inbound.verifier, allowAnyCaller: inbound.allowAnyCaller, maxHeaderBytes: inbound.maxHeaderBytes };
    },
  },
  {
    doc: 'docs/iap.md',
    heading: '## Configuration',
    file: 'lib/inbound/inbound.options.ts',
    type: 'InboundIapOptions',
    resolvedDefaults: () =>
      resolveInboundOptions({
        iap: { audience: '/projects/1/global/backendServices/2' },
        allowedCallers: [SOME_CALLER],
      })!.iap!,
  },
  {
    doc: 'docs/opentelemetry.md',
    heading: '## Options',
    file: 'lib/shared/telemetry/telemetry.options.ts',
    type: 'TelemetryOptions',
    resolvedDefaults: () => resolveTelemetryOptions({}),
  },
  {
    doc: 'docs/emulator.md',
    heading: '## In tests: `startEmulator()`',
    file: 'lib/testing/emulator.interface.ts',
    type: 'EmulatorOptions',
    resolvedDefaults: () => EMULATOR_DEFAULTS,
  },
];

/** The default as written, reduced to what must match (see the file's comment). */
function normalizeDefault(text: string): string {
  const value = withoutRemark(
    text
      .replace(/\\\|/g, '|')
      .replace(/\[([^\]]*)\]\([^)]*\)/g, '$1')
      .replace(/`/g, '')
      .replace(/\s+/g, ' ')
      .trim(),
  );
  return /^'[^']*'$/.test(value) ? value.slice(1, -1) : value;
}

/** `text` without a trailing ` (remark)`, which may hold parentheses of its own. */
function withoutRemark(text: string): string {
  if (!text.endsWith(')')) return text;
  let depth = 0;
  for (let i = text.length - 1; i > 0; i--) {
    depth += text[i] === ')' ? 1 : text[i] === '(' ? -1 : 0;
    if (depth === 0) return text[i - 1] === ' ' ? text.slice(0, i - 1) : text;
  }
  return text;
}

/** The value of a literal default (`300`, `false`, `'http'`, `[]`, `{}`); `undefined` for prose. */
function literal(text: string): { value: unknown } | undefined {
  const value = withoutRemark(text.replace(/`/g, '').trim());
  if (/^-?\d[\d_]*(\.\d+)?$/.test(value)) return { value: Number(value.replace(/_/g, '')) };
  if (value === 'true' || value === 'false') return { value: value === 'true' };
  if (/^'[^']*'$/.test(value)) return { value: value.slice(1, -1) };
  if (value === '[]') return { value: [] };
  if (value === '{}') return { value: {} };
  return undefined;
}

/** One property of an options interface: its `@default` text, or `undefined` when it has none. */
interface DeclaredOption {
  name: string;
  optional: boolean;
  default: string | undefined;
}

/** TypeScript's compiler options of the repository (tsconfig.json), for type-checking only. */
function compilerOptions(): ts.CompilerOptions {
  const file = join(root, 'tsconfig.json');
  const { config, error } = ts.readConfigFile(file, (path) => ts.sys.readFile(path));
  if (error) throw new Error(ts.flattenDiagnosticMessageText(error.messageText, '\n'));
  return { ...ts.parseJsonConfigFileContent(config, ts.sys, root, undefined, file).options, noEmit: true };
}

/** The properties of each table's type (inherited, picked and omitted ones resolved by the checker), by `file#type`. */
function declaredOptions(tables: readonly OptionsTable[]): Map<string, DeclaredOption[]> {
  const files = [...new Set(tables.map((table) => join(root, table.file)))];
  const program = ts.createProgram(files, compilerOptions());
  const checker = program.getTypeChecker();
  const result = new Map<string, DeclaredOption[]>();
  for (const { file, type } of tables) {
    const module = checker.getSymbolAtLocation(program.getSourceFile(join(root, file))!)!;
    const symbol = checker.getExportsOfModule(module).find((exported) => exported.name === type);
    if (!symbol) throw new Error(`${file} exports no ${type}`);
    const options = checker.getPropertiesOfType(checker.getDeclaredTypeOfSymbol(symbol)).map((property) => {
      const tag = property.getJsDocTags(checker).find((jsDocTag) => jsDocTag.name === 'default');
      return {
        name: property.name,
        optional: (property.flags & ts.SymbolFlags.Optional) !== 0,
        default: tag && ts.displayPartsToString(tag.text),
      };
    });
    result.set(`${file}#${type}`, options);
  }
  return result;
}

/** One row of a Markdown table: its first cell (backticks removed), its `default` cell, its line. */
interface Row {
  name: string;
  default: string;
  line: number;
}

/**
 * The rows of the table with a `default` column in the section under `heading` (up to the next
 * heading); headings and tables inside fenced code blocks do not count.
 * @throws when the heading is not there exactly once, or the section has no such table or several.
 */
function optionsTable(markdown: string, heading: string, doc: string): Row[] {
  const lines = markdown.split('\n');
  let fenced = false;
  const prose = lines.map((line) => {
    if (/^\s*(`{3,}|~{3,})/.test(line)) fenced = !fenced;
    return fenced || /^\s*(`{3,}|~{3,})/.test(line) ? '' : line;
  });
  const starts = prose.flatMap((line, index) => (line.trimEnd() === heading ? [index] : []));
  if (starts.length !== 1) throw new Error(`${doc}: "${heading}" is there ${starts.length} times, not once`);
  const tables: Row[][] = [];
  for (let i = starts[0]! + 1; i < prose.length && !/^#{1,6}\s/.test(prose[i]!); i++) {
    if (!prose[i]!.startsWith('|')) continue;
    const header = cells(prose[i]!);
    const column = header.indexOf('default');
    const rows: Row[] = [];
    for (i += 2; i < prose.length && prose[i]!.startsWith('|'); i++) {
      const row = cells(prose[i]!);
      rows.push({ name: row[0]!.replace(/`/g, ''), default: row[column] ?? '', line: i + 1 });
    }
    i -= 1; // the line after the table is read by the outer loop: it may be the next heading
    if (column >= 0) tables.push(rows);
  }
  if (tables.length !== 1) throw new Error(`${doc}: ${tables.length} tables with a default column under "${heading}"`);
  return tables[0]!;
}

/** The cells of a table row; `\|` is a pipe inside a cell. */
function cells(row: string): string[] {
  return row
    .trim()
    .replace(/^\||\|$/g, '')
    .split(/(?<!\\)\|/)
    .map((cell) => cell.trim());
}

/** What is wrong with `rows` as the table of `declared`: one line per missing, extra or differing option. */
function tableProblems(rows: readonly Row[], declared: readonly DeclaredOption[], where: string): string[] {
  const problems: string[] = [];
  for (const option of declared) {
    const row = rows.find((candidate) => candidate.name === option.name);
    if (!row) {
      problems.push(`${where}: no row for ${option.name}`);
      continue;
    }
    if (option.default === undefined && option.optional) {
      problems.push(`${where}: ${option.name} has no @default tag in the code`);
      continue;
    }
    const expected = normalizeDefault(option.default ?? 'required');
    if (normalizeDefault(row.default) !== expected) {
      problems.push(`${where}:${row.line}: ${option.name}: the table says "${row.default}", the code "${expected}"`);
    }
  }
  for (const row of rows) {
    if (!declared.some((option) => option.name === row.name)) {
      problems.push(`${where}:${row.line}: ${row.name} is no option of the code`);
    }
  }
  return problems;
}

/** Literal `@default`s that differ from what the resolver applies. */
function resolverProblems(declared: readonly DeclaredOption[], resolved: object, where: string) {
  const problems: string[] = [];
  let compared = 0;
  for (const option of declared) {
    const value = option.default === undefined ? undefined : literal(option.default);
    if (!value || !(option.name in resolved)) continue;
    compared += 1;
    const actual = (resolved as Record<string, unknown>)[option.name];
    if (JSON.stringify(actual) !== JSON.stringify(value.value)) {
      problems.push(`${where}: ${option.name}: @default ${option.default}, but the resolver applies ${String(actual)}`);
    }
  }
  return { problems, compared };
}

describe('options tables of the documentation', () => {
  const read = (doc: string) => readFileSync(join(root, doc), 'utf8');
  const declared = declaredOptions(TABLES);
  const optionsOf = (table: OptionsTable) => declared.get(`${table.file}#${table.type}`)!;

  it.each(TABLES.map((table) => [`${table.doc} ${table.heading} (${table.type})`, table] as const))(
    '%s lists exactly the options of the code, with their defaults',
    (_, table) => {
      const rows = optionsTable(read(table.doc), table.heading, table.doc);
      expect(rows.length).toBeGreaterThan(1);
      expect(tableProblems(rows, optionsOf(table), `${table.doc} (${table.type})`)).toEqual([]);
    },
  );

  it('literal @defaults are what the resolvers apply', () => {
    let compared = 0;
    const problems = TABLES.filter((table) => table.resolvedDefaults).flatMap((table) => {
      const result = resolverProblems(optionsOf(table), table.resolvedDefaults!(), `${table.file} (${table.type})`);
      compared += result.compared;
      return result.problems;
    });
    expect(problems).toEqual([]);
    expect(compared).toBeGreaterThanOrEqual(25); // the literals were found and compared
  });

  it('the emulator command: the table lists the flags of --help, with its defaults', () => {
    const start = USAGE.indexOf('Options:\n');
    const options = USAGE.slice(start, USAGE.indexOf('\n\n', start)).split('\n');
    const help = new Map<string, string>();
    let flag: string | undefined;
    for (const line of options) {
      const named = /^\s+((?:-\w, )?--[\w-]+(?: <[\w-]+>)?)\s/.exec(line)?.[1];
      if (named) help.set((flag = named), '');
      const value = /\(default ([^)]+)\)/.exec(line)?.[1];
      if (value && flag) help.set(flag, value);
    }
    const rows = optionsTable(read('docs/emulator.md'), '## The command', 'docs/emulator.md');
    expect(rows.map((row) => row.name).sort()).toEqual([...help.keys()].sort());
    for (const row of rows) {
      // A flag without a default in --help is off (a switch) or has none to show.
      const expected = help.get(row.name) || (row.default === '' ? '' : 'off');
      expect({ flag: row.name, default: normalizeDefault(row.default) }).toEqual({ flag: row.name, default: expected });
    }
  });

  it('reports a missing row, an extra row and a wrong default (canary)', () => {
    const markdown = [
      '## Canary',
      '',
      '```md',
      '## Canary',
      '```',
      '',
      '| option | default | meaning |',
      '| --- | --- | --- |',
      '| `refreshWindowSeconds` | `30` | a wrong default |',
      '| `timeoutMs` | `2000` (per attempt) | right, with a remark |',
      '| `deadlineMs` | [`6000`](#canary) | right, as a link |',
      '| `initialBackoffMs` | `100` | right |',
      '| `retries` | `3` | no such option |',
      '',
    ].join('\n');
    const cacheTable = TABLES.find((table) => table.type === 'IdTokenCacheOptions')!;
    const rows = optionsTable(markdown, '## Canary', 'canary.md');
    expect(tableProblems(rows, optionsOf(cacheTable), 'canary.md')).toEqual([
      'canary.md:9: refreshWindowSeconds: the table says "`30`", the code "300"',
      'canary.md: no row for maxBackoffMs',
      'canary.md:13: retries is no option of the code',
    ]);
    expect(() => optionsTable(markdown, '## Elsewhere', 'canary.md')).toThrow('is there 0 times');
    expect(resolverProblems(optionsOf(cacheTable), { timeoutMs: 3000 }, 'canary').problems).toEqual([
      'canary: timeoutMs: @default 2000, but the resolver applies 3000',
    ]);
  });
});
