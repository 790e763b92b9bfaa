import { type ConnectedStack, type StackOptions, startConnectedStack } from '../../../../test/support/stack.js';

/**
 * The stack metering's tests start: no gateway, and sampling and window closing only when a test
 * asks for them (both intervals an hour). `env` adds to or overrides that environment.
 */
export function startMeteringStack(
  env: Record<string, string>,
  options: Omit<StackOptions, 'env'> = { provisioner: false },
): Promise<ConnectedStack> {
  return startConnectedStack({
    gateway: false,
    ...options,
    env: { METERING_SAMPLE_INTERVAL: '1h', METERING_CLOSE_INTERVAL: '1h', ...env },
  });
}
