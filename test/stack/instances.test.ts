import { describe, expect, it } from 'vitest';
import { expandInstances, instancesSpec, parseInstances } from '../../scripts/stack/instances.js';
import { ttmServicesFromEnv } from '../../scripts/stack/ttmServices.js';

const services = ttmServicesFromEnv({});
const names = services.map((s) => s.name);

describe('parseInstances', () => {
  it('reads service=count pairs', () => {
    expect([...parseInstances('gateway=2, provisioner=3', names)]).toEqual([
      ['gateway', 2],
      ['provisioner', 3],
    ]);
    expect(parseInstances('', names).size).toBe(0);
  });

  it('says what is wrong in one line', () => {
    expect(() => parseInstances('gateway', names)).toThrow('"gateway" is not <service>=<count>');
    expect(() => parseInstances('web=2', names)).toThrow('unknown service "web"');
    expect(() => parseInstances('quota=0', names)).toThrow('quota=0 is out of range');
  });
});

describe('instancesSpec', () => {
  it('takes --instances before STACK_INSTANCES', () => {
    expect(instancesSpec(['--instances', 'gateway=2'], { STACK_INSTANCES: 'quota=2' })).toBe('gateway=2');
    expect(instancesSpec(['--instances=metering=2'], {})).toBe('metering=2');
    expect(instancesSpec([], { STACK_INSTANCES: 'quota=2' })).toBe('quota=2');
  });
});

describe('expandInstances', () => {
  it('one of each by default, on the configured ports', () => {
    const all = expandInstances(services, new Map());
    expect(all.map((i) => [i.label, i.port])).toEqual([
      ['gateway', 3000],
      ['provisioner', 3001],
      ['metering', 3002],
      ['quota', 3003],
      ['backup', 3004],
      ['webhooks', 3005],
    ]);
    expect(all.every((i) => Object.keys(i.env).length === 0)).toBe(true);
  });

  it('instance k of a service on its port + 100 (k - 1); gateways share PORT, metrics on PORT + 100 k', () => {
    const all = expandInstances(
      services,
      new Map([
        ['gateway', 2],
        ['provisioner', 2],
      ]),
    );
    const byLabel = Object.fromEntries(all.map((i) => [i.label, i]));
    expect(byLabel.gateway!.env).toEqual({ REUSE_PORT: 'true', METRICS_PORT: '3100', RATE_LIMIT_GATEWAYS: '2' });
    expect(byLabel['gateway#2']!.env).toEqual({ REUSE_PORT: 'true', METRICS_PORT: '3200', RATE_LIMIT_GATEWAYS: '2' });
    expect(byLabel.provisioner!.env).toEqual({});
    expect(byLabel['provisioner#2']).toMatchObject({ port: 3101, env: { PROVISIONER_PORT: '3101' } });
    const ports = all.map((i) => i.port);
    expect(new Set(ports).size).toBe(ports.length);
  });
});
