import { generateKeyPair } from 'jose';
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { SigningKeyRing } from './keys.js';
import { AccessTokens } from './tokens.js';

async function ringWithOneKey() {
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const state = { accepted: true, lookups: 0 };
  const ring = {
    signingKey: () => ({ kid: 'k1', key: privateKey }),
    verificationKey: async (kid: string | undefined) => {
      state.lookups++;
      return kid === 'k1' && state.accepted ? publicKey : undefined;
    },
    acceptsKid: (kid: string) => kid === 'k1' && state.accepted,
  } as unknown as SigningKeyRing;
  return { ring, state };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('AccessTokens.verify', () => {
  it('checks a signature once, then answers from memory while the token and its key are good', async () => {
    const { ring, state } = await ringWithOneKey();
    const tokens = new AccessTokens(ring, { issuer: 'ttm', ttlMs: 60_000 });
    const { token } = await tokens.issue({ userId: 'u1', tenantId: 't1' });
    const first = await tokens.verify(token);
    expect(first).toMatchObject({ userId: 'u1', tenantId: 't1' });
    expect(await tokens.verify(token)).toEqual(first);
    expect(state.lookups).toBe(1);
  });

  it('refuses a remembered token once its key is no longer accepted', async () => {
    const { ring, state } = await ringWithOneKey();
    const tokens = new AccessTokens(ring, { issuer: 'ttm', ttlMs: 60_000 });
    const { token } = await tokens.issue({ userId: 'u1', tenantId: 't1' });
    await tokens.verify(token);
    state.accepted = false;
    await expect(tokens.verify(token)).rejects.toMatchObject({ code: 'TTM_INVALID_ACCESS_TOKEN' });
  });

  it('refuses a remembered token once it has expired', async () => {
    vi.useFakeTimers({ toFake: ['Date'] });
    const { ring } = await ringWithOneKey();
    const tokens = new AccessTokens(ring, { issuer: 'ttm', ttlMs: 5_000 });
    const { token } = await tokens.issue({ userId: 'u1', tenantId: 't1' });
    await tokens.verify(token);
    vi.setSystemTime(Date.now() + 6_000);
    await expect(tokens.verify(token)).rejects.toThrow(/expired/);
  });

  it('never remembers a token that failed, and keeps at most its capacity', async () => {
    const { ring, state } = await ringWithOneKey();
    const tokens = new AccessTokens(ring, { issuer: 'ttm', ttlMs: 60_000, verifiedCacheSize: 2 });
    const issued = await Promise.all([1, 2, 3].map((n) => tokens.issue({ userId: `u${n}`, tenantId: 't1' })));
    for (const { token } of issued) await tokens.verify(token);
    expect(state.lookups).toBe(3);
    await tokens.verify(issued[0]!.token); // evicted as the oldest: checked again
    expect(state.lookups).toBe(4);
    const [h, p] = issued[1]!.token.split('.');
    await expect(tokens.verify(`${h}.${p}.AAAA`)).rejects.toMatchObject({ code: 'TTM_INVALID_ACCESS_TOKEN' });
  });
});
