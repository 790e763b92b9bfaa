import { Command, InvalidArgumentError, Option } from 'commander';
import { type Context, contextOf, type Environment, withJson } from '../context.js';
import { UsageError } from '../errors.js';
import { json, keyValue, table } from '../render.js';
import { formatTime } from '../time.js';

/** A user of the organization's Twenty workspace, as `/api/tenant/users` answers it. */
interface TenantUser {
  id: string;
  email: string;
  first_name: string;
  last_name: string;
  role: 'Admin' | 'Member' | null;
  workspace_member_id: string | null;
  created_at: string;
}
interface InvitedUser extends TenantUser {
  invitation: { token: string; expires_at: string };
}

const base = '/api/tenant/users';

/**
 * Users routes are the organization's own (not the operator's): they take a signed-in Admin's
 * access token or an API key with `users:manage`, from --token or TTM_TOKEN.
 */
function bearer(command: Command, env: Environment): Record<string, string> {
  const { token } = command.optsWithGlobals<{ token?: string }>();
  const value = token ?? env.token;
  if (!value) {
    throw new UsageError(
      "this command needs the organization's token: set TTM_TOKEN or pass --token (an Admin's access token or an API key with users:manage)",
    );
  }
  return { authorization: `Bearer ${value}` };
}

function email(text: string): string {
  const value = text.trim();
  if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(value)) throw new InvalidArgumentError('expected an e-mail address');
  return value;
}

function userRows(users: TenantUser[]): (string | null)[][] {
  return users.map((u) => [
    u.id,
    u.email,
    u.role ?? '-',
    [u.first_name, u.last_name].filter(Boolean).join(' ') || '-',
    formatTime(u.created_at),
  ]);
}

/** The invitation token goes to stdout alone on its last line, so `| tail -1` captures it; it is never shown again. */
function printInvitation(ctx: Context, user: InvitedUser): void {
  if (ctx.json) {
    console.log(json(user));
    return;
  }
  console.log(
    keyValue([
      ['USER', user.id],
      ['EMAIL', user.email],
      ['ROLE', user.role],
      ['INVITATION EXPIRES', formatTime(user.invitation.expires_at)],
    ]),
  );
  console.error('invitation token (shown once; the user sets a password with it at POST /api/auth/accept-invitation):');
  console.log(user.invitation.token);
}

function invite(env: Environment): Command {
  return withJson(
    new Command('invite')
      .description('invite a user; prints the single-use invitation token once')
      .argument('<email>', "the new user's e-mail address", email)
      .addOption(new Option('--role <role>', 'what the user may do').choices(['Admin', 'Member']).default('Member'))
      .option('--first-name <name>', 'first name')
      .option('--last-name <name>', 'last name'),
  ).action(
    async (address: string, options: { role: 'Admin' | 'Member'; firstName?: string; lastName?: string }, command) => {
      const ctx = contextOf(command, env);
      const invited = await ctx.client.post<InvitedUser>(
        base,
        {
          email: address,
          role: options.role,
          ...(options.firstName ? { first_name: options.firstName } : {}),
          ...(options.lastName ? { last_name: options.lastName } : {}),
        },
        { headers: bearer(command, env) },
      );
      printInvitation(ctx, invited);
    },
  );
}

function list(env: Environment): Command {
  return withJson(new Command('list').description("the organization's users, oldest first")).action(
    async (_options, command: Command) => {
      const ctx = contextOf(command, env);
      const { items } = await ctx.client.get<{ items: TenantUser[] }>(base, { headers: bearer(command, env) });
      if (ctx.json) {
        console.log(json({ items }));
        return;
      }
      console.log(table(['ID', 'EMAIL', 'ROLE', 'NAME', 'CREATED'], userRows(items)));
    },
  );
}

function remove(env: Environment): Command {
  return withJson(
    new Command('remove')
      .description('remove a user: its sessions, invitations and the API keys it created are revoked')
      .argument('<id>', 'user id (from `users list`)'),
  ).action(async (id: string, _options, command: Command) => {
    const ctx = contextOf(command, env);
    await ctx.client.request('DELETE', `${base}/${encodeURIComponent(id)}`, { headers: bearer(command, env) });
    console.log(ctx.json ? json({ removed: id }) : `removed user ${id}`);
  });
}

/** `users invite|list|remove`: the organization's users, with an Admin's token. */
export function usersCommand(env: Environment): Command {
  return new Command('users')
    .description("an organization's users (needs its token: TTM_TOKEN or --token)")
    .option('--token <token>', "an Admin's access token or an API key with users:manage (default: TTM_TOKEN)")
    .addCommand(invite(env))
    .addCommand(list(env))
    .addCommand(remove(env));
}
