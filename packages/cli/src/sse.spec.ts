import { describe, expect, it } from 'vitest';
import { readSse, SseParser } from './sse.js';

describe('SseParser', () => {
  it('dispatches an event at the blank line, joining data lines', () => {
    const parser = new SseParser();
    expect(parser.push('event: operation\ndata: {"a":\n')).toEqual([]);
    expect(parser.push('data: 1}\n\n')).toEqual([{ event: 'operation', data: '{"a":\n1}', id: undefined }]);
  });

  it('ignores comments and events without data, defaults the type to message', () => {
    const parser = new SseParser();
    expect(parser.push(': keep-alive\n\nevent: ping\n\ndata:x\nid: 7\n\n')).toEqual([
      { event: 'message', data: 'x', id: '7' },
    ]);
  });

  it('handles CRLF split across chunks', () => {
    const parser = new SseParser();
    expect(parser.push('data: a\r')).toEqual([]);
    expect(parser.push('\n\r')).toEqual([]);
    expect(parser.push('\ndata: b\r\n\r\n')).toEqual([
      { event: 'message', data: 'a', id: undefined },
      { event: 'message', data: 'b', id: undefined },
    ]);
  });

  it('reads a byte stream split inside a multi-byte character, dropping a cut-off last event', async () => {
    const bytes = new TextEncoder().encode('data: héllo\n\ndata: last');
    const chunks = [bytes.slice(0, 8), bytes.slice(8)];
    async function* body() {
      yield* chunks;
    }
    const events = [];
    for await (const event of readSse(body())) events.push(event.data);
    expect(events).toEqual(['héllo']);
  });
});
