/**
 * Benchmark output: one JSON object per scenario on its own line with `--json`, a readable table otherwise.
 * Field names follow DESIGN.md: scenario, eventsPerSec, vsRaw, vsEmmett, p50Ms, p99Ms, rssMb, …
 */
export interface ScenarioResult {
  scenario: string;
  [field: string]: string | number | boolean | null | undefined;
}

export interface Reporter {
  add(result: ScenarioResult): void;
  finish(): void;
}

export function round(value: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export function createReporter(json: boolean): Reporter {
  const results: ScenarioResult[] = [];
  return {
    add(result) {
      results.push(result);
      if (json) process.stdout.write(`${JSON.stringify(result)}\n`);
      else process.stderr.write(`  done: ${result.scenario}\n`);
    },
    finish() {
      if (json) return;
      const columns = [...new Set(results.flatMap((r) => Object.keys(r)))];
      const cells = results.map((r) => columns.map((c) => (r[c] === undefined || r[c] === null ? '' : String(r[c]))));
      const widths = columns.map((c, i) => Math.max(c.length, ...cells.map((row) => row[i]!.length)));
      const line = (row: string[]) => `| ${row.map((v, i) => v.padEnd(widths[i]!)).join(' | ')} |`;
      console.log(line(columns));
      console.log(`|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`);
      for (const row of cells) console.log(line(row));
    },
  };
}

export function rssMb(): number {
  return round(process.memoryUsage().rss / 1024 / 1024, 1);
}

/** Percentile (0–100) of a list of numbers, nearest-rank. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}
