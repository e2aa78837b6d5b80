/** `cairn server`: the catalog, scheduler, job runner, REST API and metrics in one process. */
import type { Command } from 'commander';
import { CairnError } from '../errors.ts';
import { HostSampler } from '../metrics/index.ts';
import type { GlobalOptions } from './context.ts';

interface ServerFlags {
  readonly dataDir?: string;
  readonly listen: string;
  readonly catalog?: string;
  readonly config?: string;
  readonly checkConfig?: boolean;
  readonly demo?: boolean;
  readonly demoSource?: string;
  readonly slots: string;
  readonly leaseSeconds: string;
  readonly logRequests?: boolean;
  readonly pluginDir?: string;
  readonly pluginNames?: string;
}

function names(list: string | undefined): string[] | undefined {
  return list
    ?.split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '');
}

export function registerServer(program: Command): void {
  program
    .command('server')
    .description('run the Cairn server: catalog, scheduler, job runner, REST API and metrics')
    .option(
      '--data-dir <dir>',
      'where the catalog, secrets and demo repository live (default: $XDG_DATA_HOME/cairn, else ~/.local/share/cairn)',
    )
    .option('--listen <host:port>', 'address to listen on', '127.0.0.1:8470')
    .option(
      '--catalog <url>',
      'catalog database: a file or postgres://user@host/db (default: catalog.db in the data directory)',
    )
    .option('--config <file>', 'YAML file with repositories and jobs (applied at every start)')
    .option('--check-config', 'only check the --config file and exit (0 when valid)')
    .option('--demo', 'on first start, create a local repository and a job "demo" and run it')
    .option('--demo-source <dir>', 'what the demo job backs up (default /usr/share/doc)')
    .option('--slots <n>', 'runs at once on this server', '2')
    .option(
      '--lease-seconds <n>',
      "how long this server's heartbeat holds its runs: a run whose server stopped answering is taken over by another server once its lease ends (renewed every third of it)",
      '30',
    )
    .option('--log-requests', 'log every HTTP request to stderr (credentials redacted)')
    .option(
      '--plugin-dir <dir>',
      "more plugins for jobs' directives and restores (or the file's pluginDirectory, or $CAIRN_PLUGIN_DIR)",
    )
    .option(
      '--plugin-names <names>',
      "load only these plugins of the plugin folder (comma-separated; or the file's pluginNames)",
    )
    .addHelpText(
      'after',
      `
The first start creates the administrator from CAIRN_ADMIN_USER / CAIRN_ADMIN_PASSWORD, or "admin"
with a random password written to <data-dir>/initial-admin-password.

Jobs' sources may be plugin directives (bpipe:file=/db.sql:reader=pg_dump db), checked when a job
is created; runBefore and runAfter run programs around each backup (docs/server.md).

Examples:
  cairn server --demo                               a working system at once on 127.0.0.1:8470
  cairn server --config /etc/cairn/cairn.yaml --listen 0.0.0.0:8470
  cairn server --catalog postgres://cairn@db/cairn  share the job queue between servers
  curl -u admin:PASSWORD -X POST -i http://127.0.0.1:8470/api/v1/sessions
                                                    log on; the token is in X-Cairn-Session

API documentation: http://127.0.0.1:8470/api/docs`,
    )
    .action(async (flags: ServerFlags, cmd: Command) => {
      // The server's modules (HTTP, catalog, schemas) load only for this command: the others start
      // faster and smaller without them.
      const [{ startServer }, { checkConfigPlugins, loadConfig, pluginSettingsOf }, { createMetrics }] =
        await Promise.all([
          import('../api/index.ts'),
          import('../jobs/index.ts'),
          import('../metrics/index.ts'),
        ]);
      const g = cmd.optsWithGlobals<GlobalOptions>();
      if (flags.checkConfig) {
        if (!flags.config) throw new CairnError('USAGE', '--check-config needs --config FILE');
        const c = loadConfig(flags.config);
        const pluginNames = names(flags.pluginNames);
        await checkConfigPlugins(
          c,
          pluginSettingsOf(c, {
            ...(flags.pluginDir ? { pluginDir: flags.pluginDir } : {}),
            ...(pluginNames ? { pluginNames } : {}),
          }),
        );
        const line = `${flags.config}: valid (${c.repositories?.length ?? 0} repositories, ${c.jobs?.length ?? 0} jobs)`;
        process.stdout.write(
          g.json ? JSON.stringify({ valid: true, file: flags.config }) + '\n' : line + '\n',
        );
        return;
      }
      const slots = Number(flags.slots);
      if (!Number.isInteger(slots) || slots < 1 || slots > 64)
        throw new CairnError('USAGE', `--slots: expected a whole number from 1 to 64, got "${flags.slots}"`);
      const lease = Number(flags.leaseSeconds);
      if (!Number.isFinite(lease) || lease < 1 || lease > 3600)
        throw new CairnError(
          'USAGE',
          `--lease-seconds: expected a number of seconds from 1 to 3600, got "${flags.leaseSeconds}"`,
        );
      const host = new HostSampler().start();
      const m = createMetrics({ host });
      const metrics = {
        render: () => m.render(),
        contentType: m.contentType,
        observer: (job: string, tenant: string) => m.startRun(job, tenant),
        watchCatalog: (source: Parameters<typeof m.watchCatalog>[0]) => m.watchCatalog(source),
        takeover: (tenant: string) => m.takeover(tenant),
        stop: () => host.stop(),
      };
      const server = await startServer({
        ...(flags.dataDir ? { dataDir: flags.dataDir } : {}),
        listen: flags.listen,
        ...(flags.catalog ? { catalog: flags.catalog } : {}),
        ...(flags.config ? { config: flags.config } : {}),
        ...(flags.demo ? { demo: true } : {}),
        ...(flags.demoSource ? { demoSource: flags.demoSource } : {}),
        slots,
        leaseMs: Math.round(lease * 1000),
        ...(flags.logRequests ? { logRequests: true } : {}),
        ...(flags.pluginDir ? { pluginDir: flags.pluginDir } : {}),
        ...(flags.pluginNames ? { pluginNames: names(flags.pluginNames) ?? [] } : {}),
        metrics,
      });
      await new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          process.stderr.write(`cairn server: ${signal}: stopping (running runs are canceled)\n`);
          process.off('SIGINT', onInt);
          process.off('SIGTERM', onTerm);
          void server.close().finally(resolve);
        };
        const onInt = () => stop('SIGINT');
        const onTerm = () => stop('SIGTERM');
        process.on('SIGINT', onInt);
        process.on('SIGTERM', onTerm);
      });
    });
}
