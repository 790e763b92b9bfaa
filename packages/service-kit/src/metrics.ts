import { collectDefaultMetrics, Registry } from 'prom-client';

/** One registry per service: default process metrics plus its own, labelled with the service name. */
export function createMetricsRegistry(service: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ service });
  collectDefaultMetrics({ register: registry });
  return registry;
}
