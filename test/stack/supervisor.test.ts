import { describe, expect, it } from 'vitest';
import type { ServiceInstance } from '../../scripts/stack/instances.js';
import { supervise } from '../../scripts/stack/supervisor.js';

const failing: ServiceInstance = {
  name: 'quota',
  label: 'quota',
  portVariable: 'QUOTA_PORT',
  port: 0,
  main: 'test/stack/fixtures/failingService.ts',
  instance: 1,
  env: {},
};

describe('supervise', () => {
  it('restarts a failing service with backoff, then stops the stack on a crash loop, saying which and why', async () => {
    const lines: string[] = [];
    const run = supervise([failing], process.env, {
      say: (line) => lines.push(line),
      policy: { initialDelayMs: 10, maxDelayMs: 40, stableAfterMs: 60_000, maxRestarts: 3, windowMs: 60_000 },
    });
    const end = await run.finished;
    expect(end.crashLoop).toMatch(/^quota crash-loops: it exited \(exit code 3\) again after 3 restarts within 60 s/);
    expect(end.exits).toEqual([{ name: 'quota', exitCode: 3 }]);
    expect(lines.filter((line) => line.startsWith('quota exited unexpectedly (exit code 3): restarting'))).toHaveLength(
      3,
    );
    expect(lines.some((line) => line.includes('restarting it in 0.0 s (restart 1)'))).toBe(true);
    const metrics = await run.metrics.metrics();
    expect(metrics).toMatch(/^supervisor_restarts_total\{service="quota"\} 3$/m);
    expect(metrics).toMatch(/^supervisor_processes_running\{service="quota"\} 0$/m);
  }, 60_000);
});
