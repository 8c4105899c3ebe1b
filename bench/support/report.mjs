// Tables on stdout and the same numbers in bench/results.json, one section per benchmark.
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const RESULTS_FILE = fileURLToPath(new URL('../results.json', import.meta.url));

export function readResults() {
  try {
    return JSON.parse(readFileSync(RESULTS_FILE, 'utf8'));
  } catch {
    return {};
  }
}

/** Replaces one top-level section of results.json, keeping the others (a single script can be re-run alone). */
export function writeSection(name, section) {
  const results = readResults();
  results[name] = section;
  writeResults(results);
}

export function writeResults(results) {
  // Write then rename, so that an interrupted run never leaves half a file.
  writeFileSync(`${RESULTS_FILE}.tmp`, JSON.stringify(results, null, 2) + '\n');
  renameSync(`${RESULTS_FILE}.tmp`, RESULTS_FILE);
}

/** Prints `rows` (objects) as a Markdown table with the given columns (`[key, heading]`). */
export function printTable(title, columns, rows) {
  console.log(`\n### ${title}\n`);
  console.log(markdownTable(columns, rows));
}

export function markdownTable(columns, rows) {
  const cells = rows.map((row) => columns.map(([key]) => formatCell(row[key])));
  const head = columns.map(([, heading]) => heading);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((r) => r[i].length)));
  const line = (values) => `| ${values.map((v, i) => v.padEnd(widths[i])).join(' | ')} |`;
  return [line(head), `| ${widths.map((w) => '-'.repeat(w)).join(' | ')} |`, ...cells.map(line)].join('\n');
}

function formatCell(value) {
  if (value === undefined || value === null) return '–';
  if (typeof value === 'boolean') return value ? 'yes' : 'no';
  if (typeof value !== 'number') return String(value);
  if (!Number.isFinite(value)) return String(value);
  if (Math.abs(value) >= 100) return Math.round(value).toLocaleString('en-US');
  // Three significant digits: enough to judge a ratio against 0.95, and 1/1000 stays visible.
  return String(Number(value.toPrecision(3)));
}

/**
 * A target we hold ourselves to. `met` is computed, never adjusted: a miss is reported as a miss.
 * @param {string} name what is promised, e.g. 'verifier ≥ 0.8× raw crypto'
 * @param {number|string} value the measured value it is judged on
 * @param {boolean} met
 * @param {string} [note] why it was missed, or what the value means
 */
export function target(name, value, met, note) {
  return { target: name, value, met, ...(note ? { note } : {}) };
}

export function printTargets(targets) {
  printTable(
    'Targets',
    [
      ['target', 'Target'],
      ['shown', 'Measured'],
      ['verdict', 'Met'],
    ],
    targets.map((t) => ({
      ...t,
      shown: typeof t.value === 'number' ? round(t.value, 3) : t.value,
      verdict: t.met ? 'met' : 'MISSED',
    })),
  );
  for (const t of targets) if (t.note) console.log(`- ${t.target}: ${t.note}`);
}

export function round(value, digits = 2) {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export function median(values) {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Median of per-round ratios a[i] / b[i]. Contenders measured in the same round saw the same
 * machine load, so their ratio is steadier than the ratio of two medians.
 */
export function medianRatio(a, b) {
  return median(a.map((value, i) => value / b[i]));
}

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}
