import { Consumers, consumerDefinition } from '@ttm/contracts';
import { describe, expect, it } from 'vitest';
import { leastOutageBeforeStallMs } from './redelivery.js';

describe('leastOutageBeforeStallMs', () => {
  it('adds the least in-process pauses of all deliveries but one and half of every redelivery ceiling', () => {
    // In-process: 0.5 x (0.1 + 0.2 + 0.4 + 0.8 + 1.6 + 3.2 + 5) s = 5.65 s per delivery.
    expect(leastOutageBeforeStallMs(2)).toBe(5_650 + 500);
    // Redelivery ceilings 1, 2, 4, 8 s: at least 7.5 s between five deliveries.
    expect(leastOutageBeforeStallMs(5)).toBe(4 * 5_650 + 7_500);
  });

  it('lets a registration ride out a PostgreSQL outage of several minutes with the contract max_deliver', () => {
    const { maxDeliver } = consumerDefinition(Consumers.provisionerCommands);
    // Ceilings 1, 2, 4, 8, then 15 s fifteen times: 240 s, at least 120 s; plus 19 x 5.65 s.
    expect(leastOutageBeforeStallMs(maxDeliver)).toBe(19 * 5_650 + 120_000);
    expect(leastOutageBeforeStallMs(maxDeliver)).toBeGreaterThan(180_000);
  });
});
