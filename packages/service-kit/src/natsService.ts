import { type Service, Svcm } from '@nats-io/services';
import type { NatsConnection } from './nats.js';

export interface NatsServiceHandle {
  stop(): Promise<void>;
  /** The instance id `$SRV.PING` answers with; one per process. */
  id: string;
}

/**
 * Register the process as a NATS micro service named `ttm-<service>`, so
 * `$SRV.PING`, `$SRV.INFO` and `$SRV.STATS` (and `nats micro ls`) find it.
 * Discovery endpoints only: @nats-io/services is a prerelease, so nothing else leans on it.
 */
export async function registerNatsService(
  nc: NatsConnection,
  options: { service: string; version: string; description: string },
): Promise<NatsServiceHandle> {
  const name = `ttm-${options.service}`;
  let service: Service;
  try {
    service = await new Svcm(nc).add({ name, version: options.version, description: options.description });
  } catch (error) {
    const reason = error instanceof Error ? error.message : String(error);
    throw new Error(
      `could not register NATS service ${name} version "${options.version}": ${reason} ` +
        '(the name takes letters, digits, "-" and "_"; the version must be semver like 1.2.3)',
      { cause: error },
    );
  }
  return {
    id: service.info().id,
    async stop() {
      // stop() resolves with the error that stopped it, if any; at shutdown there is nothing to do with it.
      await service.stop();
    },
  };
}
