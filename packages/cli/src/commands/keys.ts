import { Command } from 'commander';
import { contextOf, type Environment, withJson } from '../context.js';
import { json, keyValue } from '../render.js';

interface Rotation {
  kid: string;
  retired: string[];
}

/** `keys rotate`: a new access-token signing key now (nobody is signed out). */
export function keysCommand(env: Environment): Command {
  const keys = new Command('keys').description('access-token signing keys');
  keys.addCommand(
    withJson(
      new Command('rotate').description(
        'sign access tokens with a new key from now on; the old key keeps verifying until its tokens expire',
      ),
    ).action(async (_options: unknown, command: Command) => {
      const ctx = contextOf(command, env);
      const rotation = await ctx.client.post<Rotation>('/api/admin/signing-keys/rotate', {}, { admin: true });
      console.log(
        ctx.json
          ? json(rotation)
          : keyValue([
              ['SIGNING KEY', rotation.kid],
              ['RETIRED', rotation.retired.join(', ') || '-'],
            ]),
      );
    }),
  );
  return keys;
}
