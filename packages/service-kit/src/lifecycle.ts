import type { Logger } from './logger.js';

type Closer = () => Promise<void> | void;

/**
 * Start-up registers a closer for each thing it opens; shutdown runs them in
 * reverse order (stop taking work, finish in-flight work, drain NATS, close
 * pools), each bounded by the shutdown timeout so a stuck one cannot hang exit.
 */
export class Lifecycle {
  private readonly closers: { name: string; close: Closer }[] = [];
  private stopping: Promise<void> | undefined;
  private readonly abort = new AbortController();

  constructor(
    private readonly logger: Logger,
    private readonly timeoutMs: number,
  ) {}

  /** Aborted when shutdown begins: long loops watch it to stop taking new work. */
  get signal(): AbortSignal {
    return this.abort.signal;
  }

  onStop(name: string, close: Closer): void {
    this.closers.push({ name, close });
  }

  stop(reason: string): Promise<void> {
    this.stopping ??= this.run(reason);
    return this.stopping;
  }

  private async run(reason: string): Promise<void> {
    this.logger.info({ reason }, 'shutting down');
    this.abort.abort();
    for (const { name, close } of [...this.closers].reverse()) {
      let timer: NodeJS.Timeout | undefined;
      try {
        await Promise.race([
          Promise.resolve().then(close),
          new Promise((_, reject) => {
            timer = setTimeout(() => reject(new Error(`timed out after ${this.timeoutMs} ms`)), this.timeoutMs);
          }),
        ]);
        this.logger.debug({ step: name }, 'stopped');
      } catch (error) {
        this.logger.warn({ step: name, err: error }, 'shutdown step failed');
      } finally {
        clearTimeout(timer);
      }
    }
    this.logger.info('stopped');
  }

  /** SIGTERM and SIGINT stop the service and exit 0; a second signal exits at once. */
  installSignalHandlers(): void {
    let signalled = false;
    const onSignal = (signal: NodeJS.Signals) => {
      if (signalled) process.exit(1);
      signalled = true;
      this.stop(signal).then(
        () => process.exit(0),
        () => process.exit(1),
      );
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  }
}
