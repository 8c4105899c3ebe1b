/**
 * Reading the repository's Markdown the way GitHub renders it: fenced code blocks, heading
 * anchors and links. Used by test/docs.spec.ts (snippets compile, links resolve) and by
 * test/testing-your-services.e2e.spec.ts (the README's example runs).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, resolve, sep } from 'node:path';

/** One fenced code block. */
export interface CodeBlock {
  /** The document, relative to the repository root (`docs/inbound.md`). */
  doc: string;
  /** 1-based line of the opening fence in the document. */
  line: number;
  /** First word of the info string (`ts`, `bash`, …); empty when there is none. */
  lang: string;
  /** The rest of the info string, split on spaces (`['fragment']`). */
  flags: string[];
  /** The block's content, de-indented by the fence's indentation. */
  code: string;
  /**
   * The path named by the block's first line, `// orders/src/app.module.ts`, if any: the block is
   * that file, and other blocks of the same document can import it (or read it: `// proto/orders.proto`).
   */
  file?: string;
}

/** One inline link `[text](target)`. */
export interface Link {
  doc: string;
  line: number;
  target: string;
}

const FENCE = /^(\s*)(`{3,}|~{3,})\s*([^`]*)$/;
const FILE_COMMENT = /^\/\/ ((?:[\w@-]+\/)*[\w@.-]+\.(?:ts|mts|cts|proto))(?:\s|$)/;

/** The fenced code blocks of `markdown`. An unclosed fence is an error. */
export function codeBlocks(markdown: string, doc: string): CodeBlock[] {
  const lines = markdown.split('\n');
  const blocks: CodeBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = FENCE.exec(lines[i]!);
    if (!open) continue;
    const [, indent, fence, info] = open as unknown as [string, string, string, string];
    const start = i;
    const body: string[] = [];
    for (i++; i < lines.length; i++) {
      const line = lines[i]!;
      const close = /^(\s*)(`{3,}|~{3,})\s*$/.exec(line);
      if (close && close[2]![0] === fence[0] && close[2]!.length >= fence.length) break;
      body.push(line.startsWith(indent) ? line.slice(indent.length) : line.trimStart());
    }
    if (i >= lines.length) throw new Error(`${doc}:${start + 1}: code block is never closed`);
    const [lang = '', ...flags] = info.trim().split(/\s+/).filter(Boolean);
    const code = body.join('\n') + '\n';
    const file = FILE_COMMENT.exec(body[0] ?? '')?.[1];
    blocks.push({ doc, line: start + 1, lang, flags, code, ...(file ? { file } : {}) });
  }
  return blocks;
}

/** `markdown` with the lines of fenced code blocks blanked (line numbers stay). */
function outsideCode(markdown: string): string[] {
  const lines = markdown.split('\n');
  let fence: string | undefined;
  return lines.map((line) => {
    const marker = /^\s*(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence === undefined && marker) {
      fence = marker;
      return '';
    }
    if (fence !== undefined) {
      if (marker && marker[0] === fence[0] && marker.length >= fence.length && line.trim() === marker) {
        fence = undefined;
      }
      return '';
    }
    return line;
  });
}

/**
 * The anchor GitHub gives a heading (github-slugger): lower case, punctuation removed (word
 * characters, `-` and `_` kept), spaces to hyphens. Inline markup is reduced to its text first.
 */
export function slug(heading: string): string {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // links and images: their text
    .replace(/`([^`]*)`/g, '$1') // code spans: their content
    .replace(/<[^>]+>/g, ''); // inline HTML
  return text
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '')
    .replace(/ /g, '-');
}

/** Every anchor of `markdown`'s headings (ATX `#` headings), duplicates numbered as GitHub does. */
export function anchors(markdown: string): Set<string> {
  const seen = new Map<string, number>();
  const result = new Set<string>();
  for (const line of outsideCode(markdown)) {
    const heading = /^#{1,6}\s+(.*?)\s*#*\s*$/.exec(line)?.[1];
    if (heading === undefined) continue;
    const base = slug(heading);
    const count = seen.get(base) ?? 0;
    seen.set(base, count + 1);
    result.add(count === 0 ? base : `${base}-${count}`);
  }
  return result;
}

/** Inline links of `markdown`, outside code blocks and code spans. */
export function links(markdown: string, doc: string): Link[] {
  const result: Link[] = [];
  outsideCode(markdown).forEach((raw, index) => {
    const line = raw.replace(/`[^`]*`/g, '');
    for (const match of line.matchAll(/\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)/g)) {
      result.push({ doc, line: index + 1, target: match[1]! });
    }
  });
  return result;
}

/**
 * Writes each block to `dir` as its own module: at the path its first line names, else as
 * `block-L<line>.ts`. Returns the written paths (absolute) with their blocks.
 * @throws when two blocks name the same file or a name leaves `dir`.
 */
export function writeBlocks(blocks: readonly CodeBlock[], dir: string): Map<string, CodeBlock> {
  const written = new Map<string, CodeBlock>();
  for (const block of blocks) {
    const name = block.file ?? `block-L${block.line}.ts`;
    const path = resolve(dir, name);
    if (!path.startsWith(dir + sep))
      throw new Error(`${block.doc}:${block.line}: ${name} is outside the snippet folder`);
    const previous = written.get(path);
    if (previous) throw new Error(`${block.doc}:${block.line}: ${name} is also the block at line ${previous.line}`);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, block.code);
    written.set(path, block);
  }
  return written;
}
