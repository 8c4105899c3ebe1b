/** Types of index.mjs, for test/api-report.spec.ts (the tool is plain JavaScript so that `node` runs it). */
import type ts from 'typescript';

/** One entry point of package.json `exports` that has declarations. */
export interface EntryPoint {
  /** Its report's name: `index` for `.`, else the subpath (`testing`). */
  name: string;
  /** What a consumer imports (`nestjs-cloud-run-auth/testing`). */
  specifier: string;
  /** Absolute path of the d.ts an ESM consumer gets. */
  file: string;
}

/** One program over the declarations of `entries`. */
export interface PackageApi {
  root: string;
  /** The package's own declarations; anything outside is a dependency's or TypeScript's lib. */
  packageDir: string;
  entries: EntryPoint[];
  program: ts.Program;
}

export interface PackageApiOptions {
  root: string;
  /** Defaults to the entry points of `root`'s package.json. */
  entries?: EntryPoint[];
  /** Defaults to `root`/dist. */
  packageDir?: string;
  /** Files served from memory, by absolute path. */
  files?: ReadonlyMap<string, string>;
}

export const REPORT_DIR: string;
export function entryPoints(root: string): EntryPoint[];
export function reportFile(entry: EntryPoint): string;
export function loadPackageApi(options: PackageApiOptions): PackageApi;
export function renderReport(api: PackageApi, entry: EntryPoint): string;
export function findUnexportedTypes(api: PackageApi): string[];
