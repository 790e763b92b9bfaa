/**
 * Crash tests: a crashing copy of a service (a script under a service's test/support that kills
 * itself at a chosen step) runs in its own tsx process, and the consumer it reads from gets a
 * short ack wait so that the command it never acked comes back soon.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { jetstreamManager } from '@nats-io/jetstream';
import { type NatsConnection, nanos } from '@nats-io/transport-node';

/**
 * Start `script` with `env` on top of this process's environment. `exited` resolves to 'killed'
 * when the script was killed (by itself or by the test), or to its exit code and stderr otherwise.
 */
export function startCrashing(
  script: string,
  env: Record<string, string>,
): { child: ChildProcess; exited: Promise<string> } {
  // One process (node loading tsx), not the tsx binary: that one runs the script in a child node,
  // so killing it left the script running on its own after the test.
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr += chunk.toString();
  });
  const exited = new Promise<string>((resolve) =>
    child.once('exit', (code, signal) =>
      resolve(signal === 'SIGKILL' || code === 137 ? 'killed' : `exit ${code}: ${stderr}`),
    ),
  );
  return { child, exited };
}

/** A killed service never acks: shorten the wait before the consumer redelivers its message. */
export async function shortenAckWait(nc: NatsConnection, stream: string, consumer: string): Promise<void> {
  const jsm = await jetstreamManager(nc);
  await jsm.consumers.update(stream, consumer, { ack_wait: nanos(1_500) });
}
