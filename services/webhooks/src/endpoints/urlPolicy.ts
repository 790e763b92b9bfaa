import { lookup } from 'node:dns/promises';
import ipaddr from 'ipaddr.js';

/** Where receivers may live: set once from the configuration. */
export interface UrlPolicy {
  /** Production: https only. */
  requireHttps: boolean;
  /** Development and tests: loopback and private receivers are fine. */
  allowPrivate: boolean;
}

/** A receiver URL or address the policy refuses; the message says what to change. */
export class UrlRejected extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UrlRejected';
  }
}

/** The URL's shape: parseable, http(s), no credentials, https in production. Throws UrlRejected. */
export function checkUrlShape(raw: string, policy: UrlPolicy): URL {
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new UrlRejected(`"${raw.slice(0, 200)}" is not a valid absolute URL`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new UrlRejected(`the URL scheme must be https, not ${url.protocol.replace(':', '')}`);
  }
  if (url.protocol === 'http:' && policy.requireHttps) {
    throw new UrlRejected('the URL must use https in production');
  }
  if (url.username !== '' || url.password !== '') {
    throw new UrlRejected('the URL must not carry credentials; verify deliveries with the signing secret');
  }
  if (url.hostname === '') throw new UrlRejected('the URL has no host');
  return url;
}

/**
 * Why an address may not receive deliveries, or undefined when it may: only public unicast
 * addresses (an IPv4-mapped IPv6 address is judged as the IPv4 address it carries).
 */
export function refusedAddress(address: string, policy: UrlPolicy): string | undefined {
  if (!ipaddr.isValid(address)) return `"${address}" is not an IP address`;
  const range = ipaddr.process(address).range();
  if (range === 'unicast') return undefined;
  if (policy.allowPrivate && range !== 'unspecified' && range !== 'broadcast' && range !== 'multicast') {
    return undefined;
  }
  return `${address} is a ${range} address (only public addresses may receive webhooks)`;
}

/** The host without IPv6 brackets. */
export function hostOf(url: URL): string {
  return url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
}

/**
 * The addresses a host resolves to, each vetted: throws UrlRejected when it does not resolve or
 * when any address is refused (a name that mixes public and private answers is not trusted).
 */
export async function vettedAddresses(host: string, policy: UrlPolicy): Promise<{ address: string; family: number }[]> {
  if (ipaddr.isValid(host)) {
    const reason = refusedAddress(host, policy);
    if (reason) throw new UrlRejected(reason);
    return [{ address: host, family: host.includes(':') ? 6 : 4 }];
  }
  let found: { address: string; family: number }[];
  try {
    found = await lookup(host, { all: true, verbatim: true });
  } catch (error) {
    throw new UrlRejected(`the host ${host} does not resolve (${(error as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  for (const { address } of found) {
    const reason = refusedAddress(address, policy);
    if (reason) throw new UrlRejected(`the host ${host} resolves to ${reason}`);
  }
  if (found.length === 0) throw new UrlRejected(`the host ${host} has no address`);
  return found;
}

/** Registration check: shape, then resolution. Returns the normalized URL. */
export async function checkReceiverUrl(raw: string, policy: UrlPolicy): Promise<string> {
  const url = checkUrlShape(raw, policy);
  await vettedAddresses(hostOf(url), policy);
  return url.toString();
}
