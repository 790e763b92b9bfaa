import { Presets, SingleBar } from 'cli-progress';

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
