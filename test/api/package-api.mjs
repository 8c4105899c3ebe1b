/**
 * The package's public declarations as TypeScript sees them: its entry points (package.json
 * `exports`), one program over their emitted d.ts files, and what each entry point exports.
 * Shared by the API report and the unexported-types check.
 */
import { readFileSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import ts from 'typescript';

/** Where the checked-in reports live, relative to the repository root. */
export const REPORT_DIR = 'docs/api';

/** A consumer's view of the declarations: ESM resolution, peers from node_modules. */
const OPTIONS = {
  module: ts.ModuleKind.NodeNext,
  moduleResolution: ts.ModuleResolutionKind.NodeNext,
  target: ts.ScriptTarget.ES2022,
  types: ['node'],
  strict: true,
  skipLibCheck: true,
  noEmit: true,
};

/** Entry points that have declarations, in package.json order; `./package.json` has none. */
export function entryPoints(root) {
  const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
  const map = isSubpathMap(pkg.exports) ? pkg.exports : { '.': pkg.exports };
  return Object.entries(map).flatMap(([subpath, target]) => {
    const types = declarationsOf(target);
    if (!types) return [];
    const tail = subpath.replace(/^\.\/?/, '');
    return [
      {
        name: tail === '' ? 'index' : tail.replaceAll('/', '-'),
        specifier: tail === '' ? pkg.name : `${pkg.name}/${tail}`,
        file: resolve(root, types),
      },
    ];
  });
}

function isSubpathMap(value) {
  return !!value && typeof value === 'object' && Object.keys(value).every((key) => key.startsWith('.'));
}

/** The d.ts an ESM consumer gets: the `import` condition first, `types` before `default`. */
function declarationsOf(target) {
  if (typeof target === 'string') {
    if (target.endsWith('.d.ts')) return target;
    return /\.js$/.test(target) ? target.replace(/\.js$/, '.d.ts') : undefined;
  }
  if (!target || typeof target !== 'object') return undefined;
  for (const key of ['import', 'types', 'default']) {
    const found = key in target ? declarationsOf(target[key]) : undefined;
    if (found) return found;
  }
  return undefined;
}

/** The report of `entry`, relative to the repository root. */
export function reportFile(entry) {
  return `${REPORT_DIR}/${entry.name}.api.md`;
}

/**
 * The program over the entry points' declarations. `files` (absolute path to text) are served
 * from memory, so a check can run on a made-up package; `packageDir` holds the package's own
 * declarations, everything else (node_modules, TypeScript's lib) is someone else's.
 */
export function loadPackageApi({ root, entries = entryPoints(root), packageDir = join(root, 'dist'), files }) {
  const host = ts.createCompilerHost(OPTIONS, true);
  if (files) {
    const { fileExists, readFile, directoryExists } = host;
    const dirs = new Set([...files.keys()].map((file) => dirname(file)));
    host.fileExists = (file) => files.has(file) || fileExists.call(host, file);
    host.readFile = (file) => files.get(file) ?? readFile.call(host, file);
    // Module resolution looks for a relative import only in a directory that exists.
    host.directoryExists = (dir) => dirs.has(dir) || !!directoryExists?.call(host, dir);
  }
  const program = ts.createProgram({ rootNames: entries.map((entry) => entry.file), options: OPTIONS, host });
  return { root, packageDir, entries, program };
}

/** Whether `node` is declared by the package itself rather than by a dependency or the TS lib. */
export function isPackageDeclaration(api, node) {
  const path = relative(api.packageDir, node.getSourceFile().fileName);
  return !path.startsWith('..') && !path.split(sep).includes('node_modules');
}

/** `file` relative to the root, with `/` on every platform, as the reports show it. */
export function displayPath(api, file) {
  return relative(api.root, file).split(sep).join('/');
}

/** What `entry` exports, by exported name (sorted), each resolved through re-exports. */
export function exportsOf(api, entry) {
  const checker = api.program.getTypeChecker();
  const sourceFile = api.program.getSourceFile(entry.file);
  if (!sourceFile) throw new Error(`${displayPath(api, entry.file)} is missing: run \`npm run build\` first`);
  const moduleSymbol = checker.getSymbolAtLocation(sourceFile);
  const exported = moduleSymbol ? checker.getExportsOfModule(moduleSymbol) : [];
  return exported
    .map((symbol) => {
      const target = resolveAlias(checker, symbol);
      return { name: symbol.name, symbol: target, declarations: (target.declarations ?? []).filter(isPublic) };
    })
    .filter(({ symbol, declarations }) => declarations.length > 0 || !symbol.declarations?.length)
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

export function resolveAlias(checker, symbol) {
  return symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
}

/** Whether a declaration or member is part of the public surface: not private, not `@internal`. */
export function isPublic(node) {
  if (ts.isClassElement(node) && ts.getCombinedModifierFlags(node) & ts.ModifierFlags.Private) return false;
  if (node.name && ts.isPrivateIdentifier(node.name)) return false;
  return !isInternal(node);
}

/**
 * Tagged `@internal` in a comment before it, as `stripInternal` reads it (any leading comment
 * containing the tag), so that the surface is the same whether or not the build strips them.
 */
function isInternal(node) {
  const owner = ts.isVariableDeclaration(node) ? node.parent.parent : node;
  const sourceFile = owner.getSourceFile();
  if (!sourceFile) return false;
  const ranges = ts.getLeadingCommentRanges(sourceFile.text, owner.pos) ?? [];
  return ranges.some(({ pos, end }) => sourceFile.text.slice(pos, end).includes('@internal'));
}
