import Table from 'cli-table3';
import pc from 'picocolors';

type Cell = string | number | null | undefined;

/** Borderless columns, like `kubectl get`: easy to read, easy to grep. */
const plain = {
  chars: {
    top: '',
    'top-mid': '',
    'top-left': '',
    'top-right': '',
    bottom: '',
    'bottom-mid': '',
    'bottom-left': '',
    'bottom-right': '',
    left: '',
    'left-mid': '',
    mid: '',
    'mid-mid': '',
    right: '',
    'right-mid': '',
    middle: '   ',
  },
  style: { 'padding-left': 0, 'padding-right': 0, head: [], border: [] },
};

export function table(head: string[], rows: Cell[][]): string {
  const t = new Table({ ...plain, head: head.map((h) => pc.bold(h)) });
  for (const row of rows) t.push(row.map(cell));
  return trimLines(t.toString());
}

/** A two-column table of labelled values, for one record. */
export function keyValue(pairs: [string, Cell][]): string {
  const t = new Table(plain);
  for (const [key, value] of pairs) t.push([pc.bold(key), cell(value)]);
  return trimLines(t.toString());
}

export function json(value: unknown): string {
  return JSON.stringify(value, null, 2);
}

export function heading(text: string): string {
  return `\n${pc.bold(pc.underline(text))}`;
}

/** A status word in the colour an operator scans for. */
export function status(value: string): string {
  switch (value) {
    case 'active':
    case 'succeeded':
    case 'success':
    case 'ok':
      return pc.green(value);
    case 'failed':
    case 'failure':
    case 'down':
      return pc.red(value);
    case 'suspended':
      return pc.yellow(value);
    default:
      return pc.cyan(value);
  }
}

export function shortId(id: string): string {
  return id.slice(0, 8);
}

/** `{"a":1}` kept to one line of at most `max` characters. */
export function compact(value: unknown, max = 80): string {
  if (value === undefined || value === null) return '';
  const text = typeof value === 'string' ? value : JSON.stringify(value);
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/** `512 MiB`, `1.5 GiB`: binary units, as quotas are set. */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = n;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${Number.isInteger(value) ? value : value.toFixed(1)} ${units[unit]}`;
}

function cell(value: Cell): string {
  return value === null || value === undefined || value === '' ? '-' : String(value);
}

const trimLines = (text: string) =>
  text
    .split('\n')
    .map((line) => line.trimEnd())
    .join('\n');
