import { connect, NoRespondersError } from '@nats-io/transport-node';

/** One running instance of a NATS micro service, as `$SRV.PING` answers. */
export interface ServiceInstance {
  name: string;
  id: string;
  version: string;
}

/**
 * Every NATS micro service instance that answers `$SRV.PING` within `waitMs`: each instance
 * answers once, so we collect replies until the window closes rather than take the first.
 */
export async function pingServices(servers: string, waitMs = 500): Promise<ServiceInstance[]> {
  const nc = await connect({ servers, name: 'tenant-cli', timeout: 2_000, reconnect: false });
  try {
    const instances: ServiceInstance[] = [];
    const replies = await nc.requestMany('$SRV.PING', undefined, { strategy: 'timer', maxWait: waitMs });
    for await (const reply of replies) {
      const body = parsePing(reply.string());
      if (body) instances.push(body);
    }
    return instances;
  } catch (error) {
    if (error instanceof NoRespondersError) return [];
    throw error;
  } finally {
    await nc.close();
  }
}

function parsePing(text: string): ServiceInstance | undefined {
  try {
    const body = JSON.parse(text) as Partial<ServiceInstance>;
    if (typeof body.name !== 'string' || typeof body.id !== 'string') return undefined;
    return { name: body.name, id: body.id, version: String(body.version ?? '?') };
  } catch {
    return undefined;
  }
}
