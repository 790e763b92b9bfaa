import { MsgHdrsImpl } from '@nats-io/nats-core/internal';
import { headers as natsHeaders } from '@nats-io/transport-node';
import { describe, expect, it } from 'vitest';
import { parseHeaderBlock } from './messageHeaders.js';

function block(pairs: [string, string][], status = ''): Uint8Array {
  const h = natsHeaders();
  for (const [name, value] of pairs) h.append(name, value);
  const text = new TextDecoder().decode((h as unknown as { encode(): Uint8Array }).encode());
  return new TextEncoder().encode(status ? text.replace('NATS/1.0', `NATS/1.0 ${status}`) : text);
}

/** What the client itself reads from the same bytes. */
function clientReads(bytes: Uint8Array): Map<string, string> {
  const result = new Map<string, string>();
  for (const [name, values] of MsgHdrsImpl.decode(bytes)) result.set(name, values[0]!);
  return result;
}

describe('header block parsing agrees with the NATS client', () => {
  it('reads CloudEvents headers as the client does', () => {
    const bytes = block([
      ['ce-id', '0b7c4a52-6f1e-4c1a-9d3e-2f5a8b9c0d1e/api_calls/gw-1:42'],
      ['ce-type', 'ttm.usage.recorded.v1'],
      ['ce-source', '/ttm/gateway'],
      ['ce-specversion', '1.0'],
      ['ce-time', '2025-02-15T09:00:01.000Z'],
      ['content-type', 'application/json'],
      ['Nats-Msg-Id', 'a:b:c'],
      ['traceparent', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01'],
    ]);
    expect(parseHeaderBlock(bytes)).toEqual(clientReads(bytes));
    expect(parseHeaderBlock(bytes).get('ce-time')).toBe('2025-02-15T09:00:01.000Z');
  });

  it('keeps the first of repeated names, values with colons, and ignores a status line', () => {
    const bytes = block(
      [
        ['X-Thing', 'one'],
        ['X-Thing', 'two'],
        ['url', 'http://a:1/b'],
      ],
      '100 Idle Heartbeat',
    );
    expect(parseHeaderBlock(bytes)).toEqual(
      new Map([
        ['X-Thing', 'one'],
        ['url', 'http://a:1/b'],
      ]),
    );
    expect(parseHeaderBlock(bytes)).toEqual(clientReads(bytes));
  });

  it('an empty block has no headers', () => {
    expect(parseHeaderBlock(new TextEncoder().encode('NATS/1.0\r\n\r\n')).size).toBe(0);
  });
});
