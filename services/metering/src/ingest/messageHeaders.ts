import type { JsMsg } from '@nats-io/jetstream';

const decoder = new TextDecoder();

/**
 * The headers of a message as name -> first value, read once.
 *
 * Why not `msg.headers`: @nats-io/nats-core 3.4 decodes headers by appending each line through
 * a case-folding, key-scanning, regex-validating `append`, and every `get` scans the keys again;
 * at tens of thousands of usage messages a second that is most of metering's CPU (measured: the
 * same run needs half the CPU without it). The client keeps the raw header block in front of
 * the payload (`msg._rdata`, `_msg.hdr` bytes long); when it is there, this parses it with the
 * same rules as the client (status line first, then `Name: value` lines, the first value of a
 * name wins). Should a client release move those fields, this falls back to `msg.headers`:
 * slower, never wrong. `messageHeaders.spec.ts` checks both give the same result.
 */
export function messageHeaders(msg: JsMsg): Map<string, string> {
  const raw = rawHeaderBlock(msg);
  if (raw) return parseHeaderBlock(raw);
  const headers = new Map<string, string>();
  for (const [name, values] of msg.headers ?? []) if (!headers.has(name)) headers.set(name, values[0] ?? '');
  return headers;
}

/** The raw header block, if this client version exposes where it keeps it. */
export function rawHeaderBlock(msg: JsMsg): Uint8Array | undefined {
  const inner = (msg as unknown as { msg?: { _rdata?: unknown; _msg?: { hdr?: unknown } } }).msg;
  const data = inner?._rdata;
  const length = inner?._msg?.hdr;
  if (!(data instanceof Uint8Array) || typeof length !== 'number' || length <= 0 || length > data.length) {
    return undefined;
  }
  return data.subarray(0, length);
}

/** `NATS/1.0\r\nName: value\r\n...\r\n\r\n` -> name -> first value (trimmed), as the client reads it. */
export function parseHeaderBlock(block: Uint8Array): Map<string, string> {
  const headers = new Map<string, string>();
  const text = decoder.decode(block);
  let start = text.indexOf('\r\n');
  if (start < 0) return headers;
  start += 2;
  while (start < text.length) {
    let end = text.indexOf('\r\n', start);
    if (end < 0) end = text.length;
    if (end > start) {
      const colon = text.indexOf(':', start);
      if (colon > start && colon < end) {
        const name = text.slice(start, colon);
        if (!headers.has(name)) headers.set(name, text.slice(colon + 1, end).trim());
      }
    }
    start = end + 2;
  }
  return headers;
}
