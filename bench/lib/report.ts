import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, totalmem } from 'node:os';
import { fileURLToPath } from 'node:url';

export interface Figure {
  name: string;
  value: number;
  unit: string;
  /** What it should beat, for the README table. */
  target?: string;
}

/** Collects a benchmark's setup and headline figures; prints them as `bench <name> <figure>: <value> <unit>`. */
export class BenchReport {
  private readonly figures: Figure[] = [];
  private readonly setup: Record<string, unknown>;

  constructor(readonly name: string) {
    this.setup = {
      cores: cpus().length,
      cpu: cpus()[0]?.model ?? 'unknown',
      memory_gib: Math.round(totalmem() / 1024 ** 3),
      node: process.version,
    };
  }

  describe(details: Record<string, unknown>): void {
    Object.assign(this.setup, details);
    console.log(`bench ${this.name} setup: ${JSON.stringify(details)}`);
  }

  figure(name: string, value: number, unit: string, target?: string): void {
    const figure: Figure = { name, value: round(value), unit, ...(target ? { target } : {}) };
    this.figures.push(figure);
    console.log(`bench ${this.name} ${name}: ${figure.value} ${unit}${target ? `   (target: ${target})` : ''}`);
  }

  async save(): Promise<void> {
    const dir = fileURLToPath(new URL('../results/', import.meta.url));
    await mkdir(dir, { recursive: true });
    const body = { name: this.name, at: new Date().toISOString(), setup: this.setup, figures: this.figures };
    await writeFile(`${dir}${this.name}.json`, `${JSON.stringify(body, null, 2)}\n`);
  }
}

function round(value: number): number {
  if (!Number.isFinite(value)) return value;
  const abs = Math.abs(value);
  const digits = abs >= 100 ? 1 : abs >= 1 ? 2 : 4;
  return Number(value.toFixed(digits));
}

/** The median of a list of numbers (the 0.5-quantile below). */
export function median(values: number[]): number {
  return quantile(values, 0.5);
}

/** The q-quantile (0..1) of a list of numbers. */
export function quantile(values: number[], q: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[index]!;
}
