import { loadConfig } from '@ttm/service-kit';
import { describe, expect, it } from 'vitest';
import { DEFAULT_ADMIN_KEY, emailVerificationRequired, gatewayEnv, isLoopbackHost, startupProblems } from './config.js';

const configOf = (env: Record<string, string>) => loadConfig(gatewayEnv, env);

describe('startupProblems', () => {
  it('accepts the development admin key only in development or test on loopback', () => {
    expect(startupProblems(configOf({}))).toEqual([]);
    expect(startupProblems(configOf({ HOST: '::1', NODE_ENV: 'test' }))).toEqual([]);
    expect(startupProblems(configOf({ HOST: '0.0.0.0' }))).toHaveLength(1);
    // Production also refuses the development key-encryption key.
    expect(startupProblems(configOf({ HOST: '127.0.0.1', NODE_ENV: 'production' }))).toHaveLength(2);
    expect(startupProblems(configOf({ NODE_ENV: 'production', SUPER_ADMIN_KEY: 'a-real-secret-0123456789' }))).toEqual([
      expect.stringMatching(/TTM_KEK is the development default/),
    ]);
    expect(startupProblems(configOf({ HOST: '127.0.0.1', NODE_ENV: 'staging' }))).toHaveLength(1);
    expect(startupProblems(configOf({ HOST: '0.0.0.0', SUPER_ADMIN_KEY: DEFAULT_ADMIN_KEY }))[0]).toMatch(
      /SUPER_ADMIN_KEY is the development default/,
    );
    expect(startupProblems(configOf({ HOST: '0.0.0.0', SUPER_ADMIN_KEY: 'a-real-secret-0123456789' }))).toEqual([]);
  });

  it('knows loopback addresses', () => {
    for (const host of ['127.0.0.1', '127.1.2.3', 'localhost', '::1', '[::1]']) expect(isLoopbackHost(host)).toBe(true);
    for (const host of ['0.0.0.0', '::', '10.0.0.1', 'gateway', '128.0.0.1']) expect(isLoopbackHost(host)).toBe(false);
  });
});

describe('emailVerificationRequired', () => {
  it('is required in production and off elsewhere unless EMAIL_VERIFICATION says', () => {
    expect(emailVerificationRequired(configOf({}))).toBe(false);
    expect(emailVerificationRequired(configOf({ NODE_ENV: 'production' }))).toBe(true);
    expect(emailVerificationRequired(configOf({ NODE_ENV: 'production', EMAIL_VERIFICATION: 'off' }))).toBe(false);
    expect(emailVerificationRequired(configOf({ EMAIL_VERIFICATION: 'required' }))).toBe(true);
  });
});
