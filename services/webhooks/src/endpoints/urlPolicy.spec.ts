import { describe, expect, it } from 'vitest';
import { checkUrlShape, refusedAddress, UrlRejected } from './urlPolicy.js';

const production = { requireHttps: true, allowPrivate: false };
const development = { requireHttps: false, allowPrivate: false };
const tests = { requireHttps: false, allowPrivate: true };

describe('receiver URL policy', () => {
  it('refuses malformed URLs, other schemes and credentials', () => {
    expect(() => checkUrlShape('not a url', development)).toThrow(UrlRejected);
    expect(() => checkUrlShape('ftp://example.com/x', development)).toThrow(/scheme must be https/);
    expect(() => checkUrlShape('https://user:pw@example.com/', development)).toThrow(/credentials/);
  });

  it('takes http only outside production', () => {
    expect(checkUrlShape('http://example.com/hook', development).host).toBe('example.com');
    expect(() => checkUrlShape('http://example.com/hook', production)).toThrow(/https in production/);
    expect(checkUrlShape('https://example.com/hook', production).protocol).toBe('https:');
  });

  it('accepts public unicast addresses only', () => {
    expect(refusedAddress('93.184.216.34', production)).toBeUndefined();
    expect(refusedAddress('2606:2800:220:1:248:1893:25c8:1946', production)).toBeUndefined();
    for (const address of [
      '127.0.0.1',
      '10.1.2.3',
      '172.16.0.1',
      '192.168.1.1',
      '169.254.169.254',
      '100.64.0.1',
      '0.0.0.0',
      '224.0.0.1',
      '::1',
      'fe80::1',
      'fc00::1',
      '::ffff:127.0.0.1',
      '::ffff:10.0.0.1',
    ]) {
      expect(refusedAddress(address, production), address).toMatch(/address/);
    }
  });

  it('lets tests reach loopback and private receivers, never multicast', () => {
    expect(refusedAddress('127.0.0.1', tests)).toBeUndefined();
    expect(refusedAddress('::1', tests)).toBeUndefined();
    expect(refusedAddress('224.0.0.1', tests)).toMatch(/multicast/);
  });
});
