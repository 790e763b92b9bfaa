import { Redis } from 'ioredis';
import type { Logger } from './logger.js';

export type { Redis };

/** A Redis client that reconnects forever and never queues commands while down (callers fail fast). */
export function createRedis(url: string, logger: Logger): Redis {
  const redis = new Redis(url, {
    lazyConnect: true,
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    retryStrategy: (attempt) => Math.min(attempt * 200, 2_000),
  });
  let wasReady = false;
  redis.on('ready', () => {
    if (wasReady) logger.info('Redis reconnected');
    wasReady = true;
  });
  redis.on('error', (error) => logger.debug({ err: error }, 'Redis error'));
  redis.on('end', () => logger.debug('Redis connection closed'));
  return redis;
}

export function redisIsReady(redis: Redis): boolean {
  return redis.status === 'ready';
}
