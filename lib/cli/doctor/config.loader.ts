import { readFile } from 'node:fs/promises';
import { extname, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { CloudRunAuthModuleOptions } from '../../module/cloud-run-auth.options.js';

/** A file doctor was pointed at that it cannot use; the message names the file, never its contents. */
export class DoctorInputError extends Error {
  override readonly name = 'DoctorInputError';

  constructor(
    message: string,
    /** What to do about it. */
    readonly nextStep: string,
  ) {
    super(message);
  }
}

const SCRIPT_EXTENSIONS = new Set(['.js', '.mjs', '.cjs']);
const TYPESCRIPT_EXTENSIONS = new Set(['.ts', '.mts', '.cts']);
const EXPORT_HINT =
  'export the options object as `cloudRunAuthOptions` or as the default export (a JSON file: the object itself)';

/**
 * Loads module options as the application has them: a JSON file, or a JavaScript module
 * (`.js`, `.mjs`, `.cjs`) exporting them as `cloudRunAuthOptions` or as its default export (an
 * object, or a promise of one). TypeScript files load where Node strips types itself (22.18 and
 * later); no compiler is brought in for them. The module runs, as it does in the application.
 * @throws DoctorInputError when the file cannot be read or exports no options object.
 */
export async function loadModuleOptions(file: string): Promise<CloudRunAuthModuleOptions> {
  const path = resolve(file);
  const extension = extname(path).toLowerCase();
  let loaded: unknown;
  if (extension === '.json') {
    loaded = parseJson(await readText(path, file), file);
  } else if (SCRIPT_EXTENSIONS.has(extension) || TYPESCRIPT_EXTENSIONS.has(extension)) {
    if (TYPESCRIPT_EXTENSIONS.has(extension) && !(process.features as { typescript?: unknown }).typescript) {
      throw new DoctorInputError(
        `${file} is TypeScript, which Node ${process.versions.node} cannot load without a compiler`,
        'point doctor at the compiled .js file (e.g. under dist/), or run it with Node 22.18 or later',
      );
    }
    await readText(path, file);
    loaded = optionsExport(await importModule(path, file));
  } else {
    throw new DoctorInputError(
      `${file} is neither JSON nor a JavaScript module`,
      `use a .json, .js, .mjs or .cjs file, and ${EXPORT_HINT}`,
    );
  }
  const options = await loaded;
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new DoctorInputError(`${file} does not export an options object`, EXPORT_HINT);
  }
  return options as CloudRunAuthModuleOptions;
}

async function readText(path: string, file: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'unreadable';
    throw new DoctorInputError(
      `${file} cannot be read (${code})`,
      'give the path of the file that holds the module options',
    );
  }
}

function parseJson(text: string, file: string): unknown {
  try {
    return JSON.parse(text);
  } catch (error) {
    // JSON.parse names a position, never the text around it in Node 20; later versions quote a few characters.
    const at = /position \d+(?: \(line \d+ column \d+\))?/.exec((error as Error).message)?.[0];
    throw new DoctorInputError(`${file} is not valid JSON${at ? ` (at ${at})` : ''}`, `fix the JSON of ${file}`);
  }
}

async function importModule(path: string, file: string): Promise<Record<string, unknown>> {
  try {
    return (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  } catch (error) {
    const name = error instanceof Error ? error.name : typeof error;
    const code = (error as { code?: unknown }).code;
    throw new DoctorInputError(
      `${file} could not be loaded (${name}${typeof code === 'string' ? ` ${code}` : ''})`,
      `run \`node ${file}\` to see the error, then fix it`,
    );
  }
}

/** `cloudRunAuthOptions`, else the default export (a CommonJS module's `module.exports`, or its `cloudRunAuthOptions`). */
function optionsExport(module: Record<string, unknown>): unknown {
  const fallback = module.default as Record<string, unknown> | undefined;
  return module.cloudRunAuthOptions ?? fallback?.cloudRunAuthOptions ?? fallback;
}
