/**
 * `npm start`: the whole control plane on one machine.
 *
 * 1. PostgreSQL (DATABASE_URL), NATS (NATS_URL) and Redis (REDIS_URL): use them if
 *    they answer; if one does not and its URL is local, start a private instance
 *    under .data/; otherwise stop with one line naming the variable to set.
 * 2. `tsx scripts/bootstrap.ts`: streams, consumers, buckets, the database (and, as a superuser,
 *    a role per service owning its schema: each service then connects as its role, stack/databaseRoles.ts).
 * 3. The six services (or several instances of some: `--instances gateway=2,provisioner=2`
 *    or STACK_INSTANCES), output prefixed by name, a banner once all are ready.
 * 4. Supervision: a service that exits unexpectedly is restarted with capped exponential
 *    backoff (stack/supervisor.ts), the others keep serving.
 * Ctrl-C (SIGINT) or SIGTERM stops the services (SIGTERM, up to 15 s each), then
 * the private instances, and exits 0 when every service stopped cleanly. A service
 * that crash-loops stops the stack too, with exit code 1 and a line saying which.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { rolePrefix, type ServiceWithSchema } from '../packages/service-kit/src/databaseRoles.js';
import { applySeedAliases, loadDotEnv } from '../packages/service-kit/src/environment.js';
import { address, type BackingService, backingServicesFromEnv, isLocalHost, redact } from './stack/backingServices.js';
import { runBootstrap } from './stack/bootstrapRunner.js';
import { rolePasswordEnv, serviceDatabaseUrls } from './stack/databaseRoles.js';
import {
  expandInstances,
  InstancesError,
  instancesSpec,
  parseInstances,
  type ServiceInstance,
} from './stack/instances.js';
import { natsUserEnv } from './stack/natsCredentials.js';
import {
  CannotStart,
  describe,
  type PrivateInstance,
  startPrivateInstance,
  whyNoPrivateInstance,
} from './stack/privateInstances.js';
import { probe } from './stack/probe.js';
import { dataRoot, repoRoot, runningStackPid, shown, stackPidFile, watchLaunchers } from './stack/processes.js';
import { STOP_GRACE_MS, type Supervision, serveSupervisorMetrics, supervise } from './stack/supervisor.js';
import {
  describeNotReady,
  httpBase,
  portsInUse,
  type TtmService,
  ttmServicesFromEnv,
  waitUntilReady,
} from './stack/ttmServices.js';

const READY_TIMEOUT_MS = 60_000;
/** The supervisor's own /metrics (supervisor_restarts_total{service}), on 127.0.0.1. */
const SUPERVISOR_PORT_DEFAULT = 3009;

const say = (line: string) => console.log(`[stack] ${line}`);
const complain = (line: string) => console.error(`[stack] ${line}`);

// ---------------------------------------------------------------- signals

const stopRequest = new AbortController();
let firstSignalAt = 0;
let run: Supervision | undefined;

function onSignal(signal: NodeJS.Signals): void {
  if (!stopRequest.signal.aborted) {
    firstSignalAt = Date.now();
    say(`${signal}: stopping (services get up to ${STOP_GRACE_MS / 1000} s, then private instances stop)`);
    stopRequest.abort();
    return;
  }
  // One Ctrl-C can arrive twice (from the terminal and relayed by npm or tsx): ignore the echo.
  if (Date.now() - firstSignalAt < 2_000) return;
  say(`${signal} again: killing the services now`);
  run?.kill();
}
for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.on(signal, onSignal);
watchLaunchers(() => {
  if (stopRequest.signal.aborted) return;
  say('the process that started the stack went away: stopping');
  stopRequest.abort();
});

// ---------------------------------------------------------------- backing services

/** Use, or start privately, one backing service. Returns a one-line problem, or undefined when usable. */
async function ensure(service: BackingService, started: PrivateInstance[]): Promise<string | undefined> {
  const result = await probe(service);
  const where = address(service.endpoints[0]!);
  if (result.state === 'up') {
    say(`${service.label}: using ${address(result.endpoint)}${result.note ? ` (${result.note})` : ''}`);
    return undefined;
  }
  if (result.state === 'unusable') {
    return `${service.label} at ${address(result.endpoint)} cannot be used (${result.reason}): set ${service.variable}`;
  }
  const local = service.endpoints.length === 1 && isLocalHost(service.endpoints[0]!.host);
  const why = local ? await whyNoPrivateInstance(service) : undefined;
  if (!local || why) {
    return `${service.label} is not reachable at ${where} and no local server can be started${why ? ` (${why})` : ''}: set ${service.variable}`;
  }
  try {
    const instance = await startPrivateInstance(service);
    started.push(instance);
    say(`${service.label} is not reachable at ${where}: started a private instance (${describe(instance)})`);
    return undefined;
  } catch (error) {
    const reason = error instanceof CannotStart ? error.message : String(error);
    return `${service.label} is not reachable at ${where} and the private instance did not start (${reason}): set ${service.variable}`;
  }
}

async function stopInstances(instances: PrivateInstance[]): Promise<void> {
  for (const instance of [...instances].reverse()) {
    await instance.stop();
    say(`stopped the private ${instance.service.label}`);
  }
}

// ---------------------------------------------------------------- banner

function banner(
  services: ServiceInstance[],
  gateway: TtmService,
  supervisorPort: number,
  backing: BackingService[],
  privateOnes: PrivateInstance[],
  ms: number,
): string {
  const width = Math.max(...services.map((s) => s.label.length));
  const lines = [
    '',
    `  Twenty Tenant Manager is ready: ${services.length} service processes in ${(ms / 1000).toFixed(1)} s`,
    '',
    `  Gateway   ${httpBase(gateway)}`,
    `  API docs  ${httpBase(gateway)}/docs`,
    '  Metrics   (Prometheus; health at /health/live and /health/ready on the same ports)',
    ...services.map((s) => `    ${s.label.padEnd(width)}  ${httpBase(s)}/metrics`),
    `    ${'supervisor'.padEnd(width)}  http://127.0.0.1:${supervisorPort}/metrics  (restarts)`,
    '  Backing services',
    ...backing.map((b) => {
      const own = privateOnes.find((p) => p.service.kind === b.kind);
      return `    ${b.label.padEnd(10)}  ${redact(b.url)}${own ? `  (private instance, ${describe(own)})` : ''}`;
    }),
    '',
    `  Ctrl-C stops everything (from elsewhere: kill -INT $(cat ${shown(stackPidFile)})).`,
    '',
  ];
  return lines.join('\n');
}

async function announceWhenReady(
  services: ServiceInstance[],
  gateway: TtmService,
  supervisorPort: number,
  backing: BackingService[],
  privateOnes: PrivateInstance[],
  until: AbortSignal,
): Promise<void> {
  const started = Date.now();
  let report = await waitUntilReady(services, READY_TIMEOUT_MS, until);
  if (until.aborted) return;
  if (!report.ready) {
    complain(`not ready after ${READY_TIMEOUT_MS / 1000} s: ${describeNotReady(report)}; still running, watching`);
    report = await waitUntilReady(services, Number.POSITIVE_INFINITY, until);
    if (until.aborted) return;
  }
  console.log(banner(services, gateway, supervisorPort, backing, privateOnes, Date.now() - started));
}

// ---------------------------------------------------------------- main

async function main(): Promise<number> {
  let backing: BackingService[];
  let base: TtmService[];
  let services: ServiceInstance[];
  let supervisorPort: number;
  // `.env` (the process environment wins), then the seed's names (GLOBAL_DATABASE_URL, ...):
  // before anything reads the environment, so the services and the probes agree.
  const fromDotEnv = loadDotEnv(process.env, repoRoot);
  if (fromDotEnv.length > 0) say(`.env: ${fromDotEnv.length} variables (the environment wins over it)`);
  const aliasProblems = applySeedAliases(process.env);
  if (aliasProblems.length > 0) {
    for (const problem of aliasProblems) complain(problem);
    return 1;
  }
  try {
    backing = backingServicesFromEnv();
    base = ttmServicesFromEnv();
    const counts = parseInstances(
      instancesSpec(process.argv.slice(2), process.env),
      base.map((s) => s.name),
    );
    services = expandInstances(base, counts, process.env);
    supervisorPort = Number(process.env.SUPERVISOR_PORT ?? SUPERVISOR_PORT_DEFAULT);
    if (!Number.isInteger(supervisorPort) || supervisorPort < 1 || supervisorPort > 65535) {
      throw new InstancesError(
        `SUPERVISOR_PORT "${process.env.SUPERVISOR_PORT}" is not a port number: fix SUPERVISOR_PORT`,
      );
    }
  } catch (error) {
    // StackConfigError and bad port numbers: one line naming the variable.
    complain(error instanceof Error ? error.message : String(error));
    return 1;
  }

  const other = runningStackPid();
  if (other !== undefined && other !== process.pid) {
    complain(`the stack is already running (pid ${other}, see ${shown(stackPidFile)}): stop it first`);
    return 1;
  }
  mkdirSync(dataRoot, { recursive: true });
  writeFileSync(stackPidFile, `${process.pid}\n`);

  const privateOnes: PrivateInstance[] = [];
  const cleanUpAtExit = () => {
    for (const instance of privateOnes) instance.kill();
    removePidFile();
  };
  process.on('exit', cleanUpAtExit);
  try {
    const problems = (await Promise.all(backing.map((service) => ensure(service, privateOnes)))).filter(
      (p): p is string => p !== undefined,
    );
    // A Ctrl-C during start-up also interrupts initdb (same terminal): not a problem to report.
    if (stopRequest.signal.aborted) return 0;
    if (problems.length > 0) {
      for (const problem of problems) complain(problem);
      return 1;
    }

    // The services and the bootstrap see exactly the addresses probed above.
    // On a developer machine the services listen on loopback only (containers set HOST=0.0.0.0).
    const env: NodeJS.ProcessEnv = { HOST: '127.0.0.1', ...process.env };
    for (const service of backing) env[service.variable] = service.url;

    // A private NATS is locked down: bootstrap connects as admin, each service as itself.
    const natsPasswords = privateOnes.find((p) => p.natsPasswords)?.natsPasswords;
    if (natsPasswords) {
      for (const s of services) Object.assign(s.env, natsUserEnv(s.name, natsPasswords));
      say('NATS: the private instance refuses anonymous connections; each service has its own user');
    }
    // PostgreSQL: the bootstrap (as a superuser) gives each service a role owning its schema.
    const databaseUrl = env.DATABASE_URL!;
    const rolePasswords = rolePasswordEnv(databaseUrl, env, dataRoot);
    const bootstrapEnv = {
      ...env,
      ...rolePasswords,
      ...(natsPasswords ? natsUserEnv('admin', natsPasswords) : {}),
    };
    const bootstrap = await runBootstrap(bootstrapEnv, stopRequest.signal);
    if (stopRequest.signal.aborted) return 0;
    if (!bootstrap.ok) {
      complain(`bootstrap failed (${bootstrap.message}): not starting the services`);
      return 1;
    }
    const databaseUrls = await serviceDatabaseUrls(databaseUrl, rolePasswords, rolePrefix(env));
    if (databaseUrls.kind === 'roles') {
      for (const s of services) {
        const url = databaseUrls.urls[s.name as ServiceWithSchema];
        if (url) s.env.DATABASE_URL = url;
      }
      say(`PostgreSQL: each service connects as its own role (${rolePrefix(env)}_gateway, ...)`);
    } else {
      say(`PostgreSQL: every service connects as DATABASE_URL's user (${databaseUrls.reason})`);
    }

    const gateway = base.find((s) => s.name === 'gateway')!;
    const busy = await portsInUse(
      services.some((s) => s.label === gateway.name && s.port === gateway.port) ? services : [gateway, ...services],
    );
    if (busy.length > 0) {
      for (const s of busy) {
        complain(
          `port ${s.port} of ${s.name} is already in use (is the stack already running?): stop what uses it or set ${s.portVariable}`,
        );
      }
      return 1;
    }

    run = supervise(services, env, { say });
    const serviceRun = run;
    const metricsServer = await serveSupervisorMetrics(serviceRun.metrics, supervisorPort).catch((error: unknown) => {
      complain(`supervisor metrics not served on 127.0.0.1:${supervisorPort} (${String(error)}): set SUPERVISOR_PORT`);
      return undefined;
    });
    const finishedOrStopped = new AbortController();
    stopRequest.signal.addEventListener('abort', () => void serviceRun.stop(), { once: true });
    void serviceRun.finished.then(() => finishedOrStopped.abort());
    stopRequest.signal.addEventListener('abort', () => finishedOrStopped.abort(), { once: true });
    void announceWhenReady(services, gateway, supervisorPort, backing, privateOnes, finishedOrStopped.signal);

    const end = await serviceRun.finished;
    metricsServer?.close();
    const failed = end.exits.filter((exit) => exit.exitCode !== 0);
    if (end.crashLoop) {
      complain(`${end.crashLoop}: stopped the stack`);
      return 1;
    }
    if (failed.length > 0) {
      complain(`not a clean stop: ${failed.map((f) => `${f.name} exited with ${f.exitCode}`).join(', ')}`);
      return 1;
    }
    say('all services stopped');
    return 0;
  } finally {
    await stopInstances(privateOnes);
    process.off('exit', cleanUpAtExit);
    removePidFile();
  }
}

function removePidFile(): void {
  try {
    if (readFileSync(stackPidFile, 'utf8').trim() === String(process.pid)) rmSync(stackPidFile);
  } catch {
    // already gone
  }
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    complain(error instanceof Error ? (error.stack ?? error.message) : String(error));
    process.exit(1);
  },
);
