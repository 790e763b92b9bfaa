import { Presets, SingleBar } from 'cli-progress';
import { formatDuration } from './time.js';

/** How progress is shown: a live bar on a terminal, a line per change otherwise, nothing for --json. */
export type ProgressMode = 'bar' | 'lines' | 'quiet';

export function progressMode(json: boolean, stream: NodeJS.WriteStream): ProgressMode {
  if (json) return 'quiet';
  return stream.isTTY ? 'bar' : 'lines';
}

/** What a progress view shows: a provisioning state, or any operation's (backup, restore, migration). */
export interface ProgressState {
  status: string;
  progress: number;
  step: string | null;
}

/** Shows provisioning or operation progress on stderr, so stdout carries only the result. */
export class ProgressView {
  private bar: SingleBar | undefined;

  constructor(
    private readonly mode: ProgressMode,
    private readonly stream: NodeJS.WriteStream = process.stderr,
  ) {}

  update(state: ProgressState): void {
    const step = state.step ?? '';
    if (this.mode === 'lines') {
      this.stream.write(`${state.status} ${state.progress}%${step ? ` ${step}` : ''}\n`);
    } else if (this.mode === 'bar') {
      if (!this.bar) {
        this.bar = new SingleBar(
          {
            stream: this.stream,
            format: '{bar} {percentage}% | {status} {step}',
            hideCursor: true,
            // Ctrl-C must not leave the terminal without a cursor.
            gracefulExit: true,
            clearOnComplete: false,
          },
          Presets.shades_classic,
        );
        this.bar.start(100, state.progress, { status: state.status, step });
      }
      this.bar.update(state.progress, { status: state.status, step });
    }
  }

  /** A side remark; dropped while a bar is drawn, which a line would tear. */
  note(text: string): void {
    if (this.mode === 'lines' || (this.mode === 'bar' && !this.bar)) this.stream.write(`${text}\n`);
  }

  stop(): void {
    this.bar?.stop();
    this.bar = undefined;
  }
}

/** What `followWithProgress` says when the deadline passes: `<name> is still … ; check later with: <checkLater>`. */
export interface Followed {
  name: string;
  checkLater: string;
}

/**
 * Show the states `watch` yields in a progress view on stderr (a bar on a terminal, a line per
 * change off one, nothing with --json) until it ends, and return the last. `watch` gets the
 * deadline's signal and where to note a fall-back to polling. When the deadline passes first,
 * this throws one line saying where it stood and how to check later.
 */
export async function followWithProgress<S extends ProgressState>(
  json: boolean,
  watch: (options: { signal: AbortSignal; onFallback: (reason: string) => void }) => AsyncIterable<S>,
  timeoutMs: number,
  followed: Followed,
): Promise<S> {
  const view = new ProgressView(progressMode(json, process.stderr));
  const deadline = AbortSignal.timeout(timeoutMs);
  let last: S | undefined;
  try {
    for await (const state of watch({
      signal: deadline,
      onFallback: (reason) => view.note(`no event stream (${reason}): polling`),
    })) {
      view.update(state);
      last = state;
    }
  } catch (error) {
    if (!deadline.aborted) throw error;
    const where = last ? `${last.status} at ${last.progress}%` : 'pending';
    throw new Error(
      `${followed.name} is still ${where} after ${formatDuration(timeoutMs)}; check later with: ${followed.checkLater}`,
    );
  } finally {
    view.stop();
  }
  if (!last) throw new Error(`${followed.name} reported nothing`);
  return last;
}
