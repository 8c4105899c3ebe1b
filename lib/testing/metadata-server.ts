import { createHash } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/** What the metadata server serves, and how it mints tokens. */
export interface MetadataContext {
  email: string;
  projectId: string;
  projectNumber: string;
  region: string;
  instanceId: string;
  scopes: readonly string[];
  lifetime: number;
  issueAccessToken(email: string): string;
  /** An ID token for `audience`; `full` adds `email` and `email_verified`. */
  identity(audience: string, full: boolean): string;
}

/** An HTTP answer. */
export interface MetadataAnswer {
  status: number;
  body: string;
  headers: Record<string, string>;
}

/** A value computed per request (`identity`, `token`); left out of `?recursive=true` output. */
type Dynamic = (query: URLSearchParams) => MetadataAnswer;
type Value = string | number | readonly string[];
type Entry = Value | Dynamic | Directory;
interface Directory {
  [name: string]: Entry;
}

const TEXT = 'application/text';
const JSON_TYPE = 'application/json';
const HTML = 'text/html; charset=UTF-8';

const answer = (status: number, body: string, type: string, extra: Record<string, string> = {}): MetadataAnswer => ({
  status,
  body,
  headers: {
    'Content-Type': type,
    ...(status === 200 ? { ETag: createHash('sha256').update(body).digest('hex').slice(0, 16) } : {}),
    ...extra,
  },
});

const isDirectory = (entry: Entry): entry is Directory =>
  typeof entry === 'object' && entry !== null && !Array.isArray(entry);

/**
 * The GCE / Cloud Run metadata server, as clients see it: `/` and the directories list their
 * entries (directories with a trailing `/`, a directory asked for without one is redirected to
 * it), `?recursive=true` returns a directory as JSON (camelCase keys), `?alt=json|text`
 * converts values and recursive output, and everything under `/computeMetadata/` needs
 * `Metadata-Flavor: Google` (403 without it, or when `X-Forwarded-For` says it was proxied).
 * `undefined` when the path is not a metadata path.
 */
export function createMetadataServer(
  ctx: MetadataContext,
): (url: URL, headers: IncomingHttpHeaders) => MetadataAnswer | undefined {
  const token: Dynamic = (query) => {
    const json = { access_token: ctx.issueAccessToken(ctx.email), expires_in: ctx.lifetime - 1, token_type: 'Bearer' };
    return query.get('alt') === 'text'
      ? answer(200, flatten(json), TEXT)
      : answer(200, JSON.stringify(json), JSON_TYPE);
  };
  const identity: Dynamic = (query) => {
    const audience = query.get('audience');
    if (!audience) return answer(400, 'non-empty audience parameter required\n', HTML);
    const format = query.get('format') ?? 'standard';
    if (format !== 'standard' && format !== 'full') {
      return answer(400, 'format must be "standard" or "full"\n', HTML);
    }
    const licenses = query.get('licenses');
    if (licenses !== null && !/^(true|false)$/i.test(licenses)) {
      return answer(400, 'licenses must be "TRUE" or "FALSE"\n', HTML);
    }
    // No licenses on Cloud Run, so licenses=TRUE adds nothing.
    return answer(200, ctx.identity(audience, format === 'full'), TEXT);
  };
  const account: Directory = { aliases: ['default'], email: ctx.email, identity, scopes: ctx.scopes, token };
  const tree: Directory = {
    computeMetadata: {
      v1: {
        instance: {
          id: ctx.instanceId,
          region: `projects/${ctx.projectNumber}/regions/${ctx.region}`,
          'service-accounts': { default: account, [ctx.email]: account },
          zone: `projects/${ctx.projectNumber}/zones/${ctx.region}-1`,
        },
        project: { 'numeric-project-id': Number(ctx.projectNumber), 'project-id': ctx.projectId },
        universe: { 'universe-domain': 'googleapis.com' },
      },
    },
  };

  return (url, headers) => {
    const path = url.pathname;
    if (path === '/') return answer(200, 'computeMetadata/\n', TEXT); // the availability probe needs no header
    if (path !== '/computeMetadata' && !path.startsWith('/computeMetadata/')) return undefined;
    if (headers['metadata-flavor'] !== 'Google') {
      return answer(
        403,
        `Your client does not have permission to get URL ${path} from this server. Missing Metadata-Flavor:Google header.\n`,
        HTML,
      );
    }
    if (headers['x-forwarded-for'] !== undefined) {
      return answer(
        403,
        `Your client does not have permission to get URL ${path} from this server. It came through a proxy (X-Forwarded-For).\n`,
        HTML,
      );
    }
    const notFound = () => answer(404, `The requested URL ${path} was not found on this server.\n`, HTML);
    const names = path.split('/').slice(1);
    const trailingSlash = names[names.length - 1] === '';
    if (trailingSlash) names.pop();
    let entry: Entry = tree;
    for (const name of names) {
      const key = decode(name);
      if (!isDirectory(entry) || key === undefined || !Object.hasOwn(entry, key)) return notFound();
      entry = entry[key]!;
    }
    const query = url.searchParams;
    const recursive = query.get('recursive')?.toLowerCase() === 'true';
    const alt = query.get('alt');
    if (typeof entry === 'function') return trailingSlash ? notFound() : entry(query);
    if (!isDirectory(entry)) {
      if (trailingSlash) return notFound();
      return alt === 'json' ? answer(200, JSON.stringify(entry), JSON_TYPE) : answer(200, text(entry), TEXT);
    }
    if (recursive) {
      return alt === 'text' ? answer(200, flatten(entry), TEXT) : answer(200, JSON.stringify(toJson(entry)), JSON_TYPE);
    }
    if (!trailingSlash) {
      return answer(301, `${path}/\n`, HTML, { Location: `${path}/${url.search}` });
    }
    const listing = Object.keys(entry).map((name) => (isDirectory(entry[name]!) ? `${name}/` : name));
    return answer(200, listing.map((line) => `${line}\n`).join(''), TEXT);
  };
}

function decode(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

/** A value as text: lists one item a line. */
function text(value: Value): string {
  return Array.isArray(value) ? value.map((item) => `${item}\n`).join('') : String(value);
}

/** `?recursive=true` JSON: computed entries left out, field names in camelCase (map keys such as emails kept). */
function toJson(directory: Directory): Record<string, unknown> {
  const json: Record<string, unknown> = {};
  for (const [name, entry] of Object.entries(directory)) {
    if (typeof entry === 'function') continue;
    const key = /^[a-z]+(-[a-z]+)+$/.test(name) ? name.replace(/-([a-z])/g, (_, c: string) => c.toUpperCase()) : name;
    json[key] = isDirectory(entry) ? toJson(entry) : entry;
  }
  return json;
}

/** `?alt=text` of structured data: one `path value` line per value, lists by index. */
function flatten(value: unknown, prefix = ''): string {
  if (typeof value === 'function') return '';
  if (value !== null && typeof value === 'object') {
    return Object.entries(value)
      .map(([name, child]) => flatten(child, prefix ? `${prefix}/${name}` : name))
      .join('');
  }
  return `${prefix} ${String(value)}\n`;
}
