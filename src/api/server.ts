/**
 * `cairn server` put together: the data directory, the catalog, the first administrator, the
 * configuration file, the runner, the scheduler, metrics and the HTTP API — and, with `demo`, a
 * local repository and a job named `demo` so that a new user sees a working system at once.
 */
import { chmodSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { Catalog, describeCatalog } from '../catalog/index.ts';
import { CairnError, errnoCode, reason } from '../errors.ts';
import {
  applyConfig,
  catalogFigures,
  checkConfigPlugins,
  createJob,
  createRepository,
  loadConfig,
  measureAllRepositories,
  mountTenantVolumes,
  openPlugins,
  OverdueWatch,
  OVERDUE_GRACE_SECONDS,
  pluginSettingsOf,
  Runner,
  Scheduler,
  ServerKey,
  startJob,
  sweepRecycleBins,
  type Actor,
  type RunObserver,
  type Tenancy,
} from '../jobs/index.ts';
import type { CatalogFigures } from '../metrics/index.ts';
import { newToken, hashPassword, LogonLimiter } from './auth.ts';
import { checkAddress } from './address.ts';
import { buildApp } from './app.ts';
import type { AnswerFailure } from './openapi.ts';
import type { ApiContext } from './context.ts';
import { checkInitialPassword, initialPasswordPath } from './initial-password.ts';
import { plural } from '../words.ts';

/** How often restore points whose protection ended are purged from recycle bins. */
const SWEEP_INTERVAL_MS = 60 * 60 * 1000;

/** What the runner tells when it takes a run over from a server whose lease on it lapsed. */

export interface ServerOptions {
  readonly dataDir?: string;
  /** `host:port`; port 0 picks a free one (default 127.0.0.1:8470). */
  readonly listen?: string;
  /** Catalog URL: a file path or postgres://… (default: catalog.db in the data directory). */
  readonly catalog?: string;
  readonly config?: string;
  /** A folder of more plugins (wins over the file's pluginDirectory; default $CAIRN_PLUGIN_DIR). */
  readonly pluginDir?: string;
  /** Load only these plugins of the folder (wins over the file's pluginNames). */
  readonly pluginNames?: readonly string[];
  readonly demo?: boolean;
  /** What the demo job backs up (default /usr/share/doc, else the data directory's parent). */
  readonly demoSource?: string;
  readonly slots?: number;
  /**
   * How long this server's heartbeat holds its runs (default 30 000 ms, renewed every third of
   * it): a run whose server stopped answering is taken over by another once it ends.
   */
  readonly leaseMs?: number;
  readonly idleSeconds?: number;
  readonly env?: NodeJS.ProcessEnv;
  readonly logRequests?: boolean;
  /** Prometheus exposition and the runner's observer (from the metrics layer). */
  readonly metrics?: {
    render(): Promise<string>;
    contentType: string;
    observer?: RunObserver;
    /** Takes where the catalog's gauges come from (storage, runs, queue, jobs). */
    watchCatalog?: (source: () => Promise<CatalogFigures>) => void;
    /** A run of this tenant was taken over from a server whose lease lapsed (the runner says so). */
    takeover?: (tenant: string) => void;
    stop?: () => void;
  };
  /**
   * The grace after the second missed scheduled time before a job is overdue (default: the
   * configuration file's overdueGraceMinutes, else an hour).
   */
  readonly overdueGraceSeconds?: number;
  /** Seconds between checks for overdue jobs (default 60). */
  readonly overdueCheckSeconds?: number;
  /** Where to say what happens (default: stderr). */
  readonly say?: (line: string) => void;
  readonly pollMs?: number;
  readonly sampleMs?: number;
  /** The built web UI to serve at `/` (default: web/dist of this package, when built). */
  readonly webRoot?: string;
  /** Check every answer against its schema and report each mismatch (tests; see openapi.ts). */
  readonly checkAnswers?: AnswerFailure;
}

export interface RunningServer {
  readonly url: string;
  readonly app: FastifyInstance;
  readonly catalog: Catalog;
  readonly runner: Runner;
  readonly scheduler: Scheduler;
  readonly dataDir: string;
  close(): Promise<void>;
}

/** The web UI built by `npm run build` (web/dist beside src/ and dist/), if it is there. */
function builtWebRoot(): string | undefined {
  const dir = path.resolve(import.meta.dirname, '..', '..', 'web', 'dist');
  return existsSync(path.join(dir, 'index.html')) ? dir : undefined;
}

export function defaultDataDir(env: NodeJS.ProcessEnv = process.env): string {
  const base =
    env.XDG_DATA_HOME && path.isAbsolute(env.XDG_DATA_HOME)
      ? env.XDG_DATA_HOME
      : path.join(homedir(), '.local', 'share');
  return path.join(base, 'cairn');
}

/** The data directory and catalog URL a server with these options uses (`cairn user` opens the same). */
export function serverPaths(
  options: { readonly dataDir?: string; readonly catalog?: string },
  env: NodeJS.ProcessEnv = process.env,
): { dataDir: string; catalogUrl: string } {
  const dataDir = path.resolve(options.dataDir ?? defaultDataDir(env));
  return { dataDir, catalogUrl: options.catalog ?? path.join(dataDir, 'catalog.db') };
}

/** The catalog's file, or undefined for a PostgreSQL URL. */
function catalogFileOf(catalogUrl: string): string | undefined {
  return /^[a-z]+:\/\//i.test(catalogUrl)
    ? undefined
    : path.resolve(catalogUrl.replace(/^sqlite:(\/\/)?/, ''));
}

/** What keeps tenants off the server's own files: its data directory, server key and catalog. */
export function tenancyOf(dataDir: string, catalogUrl: string): Tenancy {
  const catalogFile = catalogFileOf(catalogUrl);
  return { dataDir, serverKey: ServerKey.load(dataDir), ...(catalogFile ? { catalogFile } : {}) };
}

/**
 * Refuses a catalog file that does not exist: opening it would make an empty one, so a wrong
 * --data-dir of a command that works on the server's data says so instead.
 */
export function requireCatalog(catalogUrl: string): void {
  const file = catalogFileOf(catalogUrl);
  if (file && !existsSync(file))
    throw new CairnError(
      'CATALOG_UNAVAILABLE',
      `Cannot open the catalog ${file}: there is none (give the server's --data-dir or --catalog)`,
    );
}

function parseListen(listen: string): { host: string; port: number } {
  const m = /^(\[[^\]]+\]|[^:]+):([0-9]{1,5})$/.exec(listen);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535)
    throw new CairnError('USAGE', `--listen: expected HOST:PORT such as 127.0.0.1:8470, got "${listen}"`);
  return { host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

async function firstAdministrator(
  catalog: Catalog,
  tenantId: string,
  dataDir: string,
  env: NodeJS.ProcessEnv,
  say: (l: string) => void,
): Promise<void> {
  const file = initialPasswordPath(dataDir);
  // Tenant users (made by `cairn tenant create` before the first start) do not count: only a
  // system administrator can provision anything through the server.
  if ((await catalog.systemAdmins()).length > 0) {
    // Until the first administrator changes the password the server chose, say where it is; once
    // changed, the file is stale and goes.
    const found = await checkInitialPassword(
      file,
      (await catalog.systemAdmins()).map((u) => u.password_hash),
    );
    if (found === 'in-use')
      say(
        `the administrator's first password is still in ${file}: log on and change it (the file then goes)`,
      );
    if (found === 'removed') say(`removed ${file}: the password it held no longer opens any account`);
    return;
  }
  const name = env.CAIRN_ADMIN_USER ?? 'admin';
  let password = env.CAIRN_ADMIN_PASSWORD;
  if (password !== undefined && password.length < 8)
    throw new CairnError('USAGE', 'CAIRN_ADMIN_PASSWORD is shorter than 8 characters');
  if (password === undefined) {
    password = newToken('').slice(0, 20);
    writeFileSync(file, password + '\n', { mode: 0o600 });
    say(
      `created the administrator "${name}"; the password is in ${file} (log on and change it: the file then goes)`,
    );
  } else {
    say(`created the administrator "${name}" from CAIRN_ADMIN_USER/CAIRN_ADMIN_PASSWORD`);
  }
  const user = await catalog.createUser({
    name,
    passwordHash: await hashPassword(password),
    systemAdmin: true,
  });
  await catalog.setRole(user.id, tenantId, 'administrator');
  await catalog.audit({
    tenantId,
    user: 'cairn',
    action: 'user.create',
    object: user.id,
    detail: { name, first: true },
  });
}

async function setUpDemo(
  catalog: Catalog,
  actor: Actor,
  dataDir: string,
  source: string | undefined,
  say: (l: string) => void,
): Promise<string | undefined> {
  const existing = await catalog.jobByName(actor.tenantId, 'demo');
  if (existing) return existing.id;
  const src = source ?? (existsSync('/usr/share/doc') ? '/usr/share/doc' : path.dirname(dataDir));
  if (!existsSync(src))
    throw new CairnError(
      'SOURCE_NOT_FOUND',
      `Cannot set up the demo: ${src} does not exist (give --demo-source)`,
    );
  const repo =
    (await catalog.repositoryByName(actor.tenantId, 'demo')) ??
    (await createRepository(
      catalog,
      actor,
      { name: 'demo', location: path.join(dataDir, 'repositories', 'demo'), create: true },
      path.join(dataDir, 'secrets'),
      'api',
    ));
  const job = await createJob(catalog, actor, {
    name: 'demo',
    repository: repo.id,
    sources: [path.resolve(src)],
    excludeCaches: true,
    schedule: { cron: '0 * * * *', missed: 'skip' },
    // keepLast: a new user who starts the job a few times sees each restore point it made.
    retention: { keepLast: 10, keepHourly: 24, keepDaily: 7, keepWeekly: 4, prune: true },
  });
  say(`demo: job "demo" backs up ${src} into ${repo.location} every hour; its first run starts now`);
  return job.id;
}

export async function startServer(options: ServerOptions = {}): Promise<RunningServer> {
  const env = options.env ?? process.env;
  const say = options.say ?? ((l: string) => process.stderr.write(`cairn server: ${l}\n`));
  const { dataDir, catalogUrl } = serverPaths(options, env);
  const { host, port } = parseListen(options.listen ?? '127.0.0.1:8470');
  // Before anything is made: a taken address leaves no catalog or password file behind.
  await checkAddress(host, port);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  // Also when it existed with a looser mode: it holds the catalog and the repositories' passwords.
  chmodSync(dataDir, 0o700);
  const secretsDir = path.join(dataDir, 'secrets');
  const config = options.config ? loadConfig(options.config) : undefined;
  const plugins = pluginSettingsOf(
    config,
    {
      ...(options.pluginDir ? { pluginDir: options.pluginDir } : {}),
      ...(options.pluginNames ? { pluginNames: options.pluginNames } : {}),
    },
    env,
  );
  // The plugin directory is read now, so a wrong one stops the start; jobs' directives are checked
  // against the plugins' schemas before anything of the file is applied.
  await (await openPlugins(plugins)).close();
  if (config) await checkConfigPlugins(config, plugins);
  const catalog = await Catalog.open(catalogUrl);
  const tenancy = tenancyOf(dataDir, catalogUrl);
  let runner: Runner | undefined;
  let scheduler: Scheduler | undefined;
  let app: FastifyInstance | undefined;
  let measuring: Promise<void> = Promise.resolve();
  let sweeping: Promise<void> = Promise.resolve();
  let sweeper: NodeJS.Timeout | undefined;
  let overdue: OverdueWatch | undefined;
  try {
    const tenant = await catalog.ensureTenant(config?.tenant ?? 'default');
    // Tenants' volumes are mounted before any run may write into their storage roots.
    await mountTenantVolumes(catalog, say);
    await firstAdministrator(catalog, tenant.id, dataDir, env, say);
    const system: Actor = { tenantId: tenant.id, userId: null, userName: 'cairn' };
    if (config && options.config) {
      const n = await applyConfig(catalog, system, config, secretsDir, plugins);
      say(`configuration ${options.config}: ${n.repositories} repositories, ${n.jobs} jobs`);
    }
    runner = new Runner(catalog, {
      ...(options.slots ? { slots: options.slots } : {}),
      ...(options.leaseMs ? { leaseMs: options.leaseMs } : {}),
      ...(options.pollMs ? { pollMs: options.pollMs } : {}),
      ...(options.sampleMs ? { sampleMs: options.sampleMs } : {}),
      ...(options.metrics?.observer ? { observer: options.metrics.observer } : {}),
      plugins,
      tenancy,
    });
    const r = runner;
    const overdueGraceSeconds =
      options.overdueGraceSeconds ??
      (config?.overdueGraceMinutes !== undefined ? config.overdueGraceMinutes * 60 : OVERDUE_GRACE_SECONDS);
    const webRoot = options.webRoot ?? builtWebRoot();
    scheduler = new Scheduler(catalog, { onQueued: () => r.poke() });
    const ctx: ApiContext = {
      catalog,
      runner,
      secretsDir,
      limiter: new LogonLimiter(),
      idleSeconds: options.idleSeconds ?? 15 * 60,
      ...(options.metrics ? { metrics: options.metrics } : {}),
      ...(webRoot ? { webRoot } : {}),
      plugins,
      tenancy,
      homeTenant: tenant.name,
      initialPasswordFile: initialPasswordPath(dataDir),
      overdueGraceSeconds,
    };
    app = await buildApp(ctx, {
      ...(options.logRequests ? { logRequests: true } : {}),
      ...(options.checkAnswers ? { checkAnswers: options.checkAnswers } : {}),
    });
    await app.listen({ host, port }).catch(async (err: unknown) => {
      // Taken between the check and now: said as the check says it.
      if (errnoCode(err) === 'EADDRINUSE') await checkAddress(host, port);
      throw err;
    });
    const address = app.server.address();
    const boundPort = typeof address === 'object' && address ? address.port : port;
    const url = `http://${host.includes(':') ? `[${host}]` : host}:${boundPort}`;
    await runner.start();
    scheduler.start();
    options.metrics?.watchCatalog?.(() =>
      catalogFigures(catalog, { graceMs: overdueGraceSeconds * 1000 }).catch((err: unknown) => {
        say(`cannot read the catalog's figures for /metrics: ${reason(err)}`);
        throw err;
      }),
    );
    const metrics = options.metrics;
    if (metrics?.takeover) {
      const count = metrics.takeover;
      r.on('takeover', (e) => {
        void catalog.tenant(e.tenantId).then(
          (t) => count(t?.name ?? e.tenantId),
          () => count(e.tenantId),
        );
      });
    }
    // Scheduled jobs without a successful run within their expected interval: now, then every minute.
    overdue = new OverdueWatch(catalog, {
      graceSeconds: overdueGraceSeconds,
      ...(options.overdueCheckSeconds !== undefined ? { checkSeconds: options.overdueCheckSeconds } : {}),
      tenancy,
      say,
    });
    overdue.start();
    // What each repository stores, measured again in the background (a listing each): usage and
    // quotas start from the truth, whatever changed while the server was down.
    measuring = measureAllRepositories(catalog).then(
      ({ failed }) => {
        for (const f of failed)
          say(`cannot measure what repository ${f.repository.name} stores: ${reason(f.error)}`);
      },
      (err: unknown) => say(`cannot measure the repositories: ${reason(err)}`),
    );
    // Restore points whose insider protection ended leave the recycle bins: now, then hourly.
    const sweep = () =>
      sweepRecycleBins(catalog, tenancy).then(
        ({ purged, failed }) => {
          if (purged > 0)
            say(`purged ${plural(purged, 'restore point')} whose protection ended from recycle bins`);
          for (const f of failed)
            say(`cannot purge the recycle bin of repository ${f.repository}: ${f.error}`);
        },
        (err: unknown) => say(`cannot sweep the recycle bins: ${reason(err)}`),
      );
    sweeping = sweep();
    sweeper = setInterval(() => {
      sweeping = sweeping.then(sweep);
    }, SWEEP_INTERVAL_MS);
    sweeper.unref();
    if (options.demo) {
      const jobId = await setUpDemo(catalog, system, dataDir, options.demoSource, say);
      const job = jobId ? await catalog.job(tenant.id, jobId) : undefined;
      if (job && !(await catalog.lastRun(tenant.id, job.id))) {
        const { run } = await startJob(catalog, system, job.id);
        r.on('state', (e) => {
          if (e.id !== run.id || e.state === 'running') return;
          void catalog.runById(run.id).then((done) => {
            const st = done?.stats
              ? (JSON.parse(done.stats) as {
                  filesProcessed?: number;
                  bytesProcessed?: number;
                  durationSeconds?: number;
                })
              : {};
            say(
              `demo: the first run of "demo" ended ${e.state}: ${st.filesProcessed ?? 0} files, ${((st.bytesProcessed ?? 0) / 1e6).toFixed(1)} MB in ${(st.durationSeconds ?? 0).toFixed(1)} s${done?.message ? ` (${done.message})` : ''}`,
            );
            say(
              `demo: log on with  curl -si -u ${env.CAIRN_ADMIN_USER ?? 'admin'}:PASSWORD -X POST ${url}/api/v1/sessions  and browse ${url}/api/docs`,
            );
          });
        });
        r.poke();
      }
    }
    say(
      `listening on ${url} (API ${url}/api/v1, docs ${url}/api/docs); catalog ${describeCatalog(catalogUrl)}; data ${dataDir}`,
    );
    const a = app;
    const s = scheduler;
    const o = overdue;
    return {
      url,
      app: a,
      catalog,
      runner: r,
      scheduler: s,
      dataDir,
      async close() {
        s.stop();
        clearInterval(sweeper);
        await o.stop();
        // Runs first: they are handed back (canceled, or queued again) whatever the HTTP side does.
        await r.stop();
        await a.close();
        await measuring;
        await sweeping;
        options.metrics?.stop?.();
        await catalog.close();
      },
    };
  } catch (err) {
    scheduler?.stop();
    clearInterval(sweeper);
    await overdue?.stop();
    await app?.close().catch(() => undefined);
    await runner?.stop().catch(() => undefined);
    await measuring;
    await sweeping;
    await catalog.close();
    throw err;
  }
}
