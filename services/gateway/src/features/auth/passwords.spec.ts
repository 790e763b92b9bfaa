import { verify } from 'argon2';
import { describe, expect, it } from 'vitest';
import { HashingQueueFull, PasswordHasher } from './passwords.js';

// The smallest argon2id the configuration allows: the gate is under test, not the hash.
const cheap = { ARGON2_MEMORY_KIB: 7168, ARGON2_TIME_COST: 1 };

describe('PasswordHasher: hashes take turns', () => {
  it('runs at most ARGON2_MAX_CONCURRENT at once and the others in arrival order', async () => {
    const hasher = new PasswordHasher({ ...cheap, ARGON2_MAX_CONCURRENT: 1, ARGON2_QUEUE_WAIT: 60_000 });
    const finished: number[] = [];
    const hashes = await Promise.all(
      [0, 1, 2, 3].map((i) =>
        hasher.hash(`password-${i}`).then((h) => {
          finished.push(i);
          return h;
        }),
      ),
    );
    expect(finished).toEqual([0, 1, 2, 3]);
    for (const [i, h] of hashes.entries()) expect(await verify(h, `password-${i}`)).toBe(true);
  });

  it('refuses with HashingQueueFull (Retry-After) when a hash cannot start within the wait, and serves the next one', async () => {
    const hasher = new PasswordHasher({ ...cheap, ARGON2_MAX_CONCURRENT: 1, ARGON2_QUEUE_WAIT: 0 });
    const first = hasher.hash('first-password');
    const refused = await hasher.hash('second-password').catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(HashingQueueFull);
    expect((refused as HashingQueueFull).retryAfterSeconds).toBe(1);
    await first;
    expect(await verify(await hasher.hash('third-password'), 'third-password')).toBe(true);
  });
});
