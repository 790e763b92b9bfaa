import type { Command } from 'commander';
import { TtmClient } from './client.js';

/** The environment variables the CLI reads, read once in main. */
export interface Environment {
  url: string | undefined;
  adminKey: string | undefined;
  /** An organization's bearer token (access token or API key) for its own routes (`users`). */
  token: string | undefined;
  adminPassword: string | undefined;
  natsUrl: string | undefined;
  healthUrls: string | undefined;
}

export function readEnvironment(env: NodeJS.ProcessEnv): Environment {
  const value = (name: string) => (env[name] === '' ? undefined : env[name]);
  return {
    url: value('TTM_URL'),
    adminKey: value('TTM_ADMIN_KEY'),
    token: value('TTM_TOKEN'),
    adminPassword: value('TTM_ADMIN_PASSWORD'),
    natsUrl: value('NATS_URL'),
    healthUrls: value('TTM_HEALTH_URLS'),
  };
}

export const defaultUrl = 'http://127.0.0.1:3000';

/** What every verb works with: flags win over the environment. */
export interface Context {
  env: Environment;
  client: TtmClient;
  json: boolean;
}

interface GlobalOptions {
  url?: string;
  adminKey?: string;
  json?: boolean;
}

export function contextOf(command: Command, env: Environment): Context {
  const options = command.optsWithGlobals<GlobalOptions>();
  const baseUrl = options.url ?? env.url ?? defaultUrl;
  return {
    env,
    client: new TtmClient({ baseUrl, adminKey: options.adminKey ?? env.adminKey }),
    json: options.json === true,
  };
}

/** Adds the `--json` flag every verb has. */
export function withJson(command: Command): Command {
  return command.option('--json', 'print the raw JSON result instead of a table');
}
