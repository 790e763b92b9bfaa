import {
  type Context,
  context,
  propagation,
  type Span,
  type SpanOptions,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapSetter,
  type Tracer,
} from '@opentelemetry/api';
import type { Logger } from './logger.js';

export interface Telemetry {
  shutdown(): Promise<void>;
}

/**
 * Start the OpenTelemetry SDK when enabled. Exporters, sampling and resource come
 * from the standard OTEL_* variables; the SDK is loaded only when used, so a
 * service that does not trace pays nothing for it.
 */
export async function startTelemetry(service: string, enabled: boolean, logger: Logger): Promise<Telemetry> {
  if (!enabled) return { shutdown: async () => undefined };
  process.env.OTEL_SERVICE_NAME ??= `ttm-${service}`;
  const { NodeSDK } = await import('@opentelemetry/sdk-node');
  const sdk = new NodeSDK();
  sdk.start();
  logger.info({ exporter: process.env.OTEL_TRACES_EXPORTER ?? 'otlp' }, 'OpenTelemetry started');
  return { shutdown: () => sdk.shutdown() };
}

/** Anything with get/set of string headers: NATS MsgHdrs, a plain record adapter, ... */
export interface HeaderCarrier {
  get(name: string): string | undefined;
  set(name: string, value: string): void;
}

const setter: TextMapSetter<HeaderCarrier> = { set: (carrier, key, value) => carrier.set(key, value) };
const getter: TextMapGetter<HeaderCarrier> = {
  get: (carrier, key) => carrier.get(key),
  keys: () => ['traceparent', 'tracestate', 'baggage'],
};

/** Write the active trace context (W3C `traceparent`) into outgoing message headers. */
export function injectTraceContext(carrier: HeaderCarrier, ctx: Context = context.active()): void {
  propagation.inject(ctx, carrier, setter);
}

/** The trace context carried by an incoming message, to run its handling inside. */
export function extractTraceContext(carrier: HeaderCarrier): Context {
  return propagation.extract(context.active(), carrier, getter);
}

/** Run `work` in an active span of `tracer`; an error marks the span (exception, ERROR status) and goes on. */
export function inSpan<T>(
  tracer: Tracer,
  name: string,
  options: SpanOptions,
  work: (span: Span) => Promise<T>,
): Promise<T> {
  return tracer.startActiveSpan(name, options, async (span) => {
    try {
      return await work(span);
    } catch (error) {
      span.recordException(error as Error);
      span.setStatus({ code: SpanStatusCode.ERROR, message: (error as Error).message });
      throw error;
    } finally {
      span.end();
    }
  });
}
