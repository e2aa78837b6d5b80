/**
 * `cairn tenant create|list|show|set|delete`: the system administrator provisions and changes
 * tenants on the server's data directory (its catalog and server key), with or without the server
 * running — the one-command provisioning of a customer.
 */
import type { Command } from 'commander';
import type { tenantView } from '../api/index.ts';
import type { Catalog } from '../catalog/index.ts';
import type { Tenancy } from '../jobs/index.ts';
import { CairnError } from '../errors.ts';
import type { GlobalOptions } from './context.ts';
import { formatBytes } from './output.ts';
import { parseSize } from './parse.ts';

interface DataFlags {
  readonly dataDir?: string;
  readonly catalog?: string;
}

interface SettingFlags {
  readonly storageRoot?: string;
  readonly quota?: string;
  readonly sourceRoot?: string[];
  readonly restoreRoot?: string[];
  readonly webhookAllow?: string[];
  readonly maxRuns?: string;
  readonly bandwidth?: string;
  readonly protectionDays?: string;
  readonly volume?: string;
}

const collect = (v: string, prev: string[] | undefined): string[] => [...(prev ?? []), v];

function dataOptions(c: Command): Command {
  return c
    .option('--data-dir <dir>', "the server's data directory (default: as cairn server)")
    .option('--catalog <url>', "the server's catalog, when it is not catalog.db of the data directory");
}

function settingOptions(c: Command): Command {
  return c
    .option('--storage-root <dir>', 'where its repositories are made (a folder or s3:…)')
    .option('--quota <size>', 'what its repositories may hold, e.g. 500GiB ("none": no limit)')
    .option('--source-root <dir>', 'a folder its jobs may read (repeat; "none" clears)', collect)
    .option('--restore-root <dir>', 'a folder its restores may write into (repeat; "none" clears)', collect)
    .option('--webhook-allow <url>', 'a URL prefix its webhooks may call (repeat; "none" clears)', collect)
    .option('--max-runs <n>', 'its runs at once ("none": no limit of its own)')
    .option(
      '--bandwidth <size>',
      'bytes a second its runs may write to its repositories together, e.g. 10MiB ("none": no limit)',
    )
    .option(
      '--protection-days <n>',
      'insider protection: days what its retention forgets stays in its recycle bin before it is purged (0: removed at once)',
    )
    .option(
      '--volume <size>',
      'its storage root as a volume of its own: a sparse XFS image loop-mounted there (root; at least 300MiB); set: grows it',
    );
}

function count(text: string, option: string, max: number): number {
  const n = Number(text);
  if (!Number.isInteger(n) || n < 0 || n > max)
    throw new CairnError('USAGE', `${option}: expected a whole number from 0 to ${max}, got "${text}"`);
  return n;
}

/** "10MiB" or "10MiB/s" → bytes a second, at least 1 KiB. */
function rate(text: string): number {
  const n = parseSize(text.replace(/\s*\/\s*s$/i, ''), '--bandwidth');
  if (n < 1024) throw new CairnError('USAGE', `Cannot use --bandwidth ${text}: the least is 1KiB (a second)`);
  return n;
}

function roots(list: string[]): string[] {
  return list.includes('none') ? [] : list;
}

function settingsOf(f: SettingFlags) {
  return {
    ...(f.storageRoot !== undefined ? { storageRoot: f.storageRoot } : {}),
    ...(f.quota !== undefined
      ? { quotaBytes: f.quota === 'none' ? null : parseSize(f.quota, '--quota') }
      : {}),
    ...(f.sourceRoot ? { sourceRoots: roots(f.sourceRoot) } : {}),
    ...(f.restoreRoot ? { restoreRoots: roots(f.restoreRoot) } : {}),
    ...(f.webhookAllow ? { webhookAllow: roots(f.webhookAllow) } : {}),
    ...(f.maxRuns !== undefined
      ? { maxRuns: f.maxRuns === 'none' ? null : count(f.maxRuns, '--max-runs', 1000) || null }
      : {}),
    ...(f.bandwidth !== undefined
      ? { bandwidthBytesPerSecond: f.bandwidth === 'none' ? null : rate(f.bandwidth) }
      : {}),
    ...(f.protectionDays !== undefined
      ? { protectionDays: count(f.protectionDays, '--protection-days', 3650) }
      : {}),
    ...(f.volume !== undefined ? { volumeBytes: parseSize(f.volume, '--volume') } : {}),
  };
}

/**
 * Opens the server's catalog and key as `cairn server` would. Only `create` may start a data
 * directory (provisioning before the server's first start); the others need an existing catalog.
 */
async function withCatalog<T>(
  flags: DataFlags,
  work: (catalog: Catalog, tenancy: Tenancy) => Promise<T>,
  options: { create?: boolean } = {},
): Promise<T> {
  const { Catalog } = await import('../catalog/index.ts');
  const { requireCatalog, serverPaths, tenancyOf } = await import('../api/index.ts');
  const { dataDir, catalogUrl } = serverPaths(flags);
  if (!options.create) requireCatalog(catalogUrl);
  const catalog = await Catalog.open(catalogUrl);
  try {
    return await work(catalog, tenancyOf(dataDir, catalogUrl));
  } finally {
    await catalog.close();
  }
}

async function findTenant(catalog: Catalog, name: string) {
  const t = await catalog.tenantByName(name);
  if (!t) throw new CairnError('NOT_FOUND', `No tenant ${name} (cairn tenant list shows them)`);
  return t;
}

function describe(v: ReturnType<typeof tenantView>): string {
  const lines = [
    `tenant ${v.name} (${v.id})`,
    `  storage root:    ${v.storageRoot ?? '(none: only the system administrator places repositories)'}`,
    `  quota:           ${v.quotaBytes === null ? 'none' : formatBytes(v.quotaBytes)}${v.usageBytes !== null ? `, ${formatBytes(v.usageBytes)} used` : ''}`,
    `  source roots:    ${v.sourceRoots.join(', ') || '(none)'}`,
    `  restore roots:   ${v.restoreRoots.join(', ') || '(none)'}`,
    `  webhooks to:     ${v.webhookAllow.join(', ') || '(none)'}`,
    `  runs at once:    ${v.maxRuns ?? 'no limit of its own'}`,
    `  bandwidth:       ${v.bandwidthBytesPerSecond === null ? 'no limit' : `${formatBytes(v.bandwidthBytesPerSecond)}/s, its runs together`}`,
    `  protection days: ${v.protectionDays}`,
    `  volume:          ${v.volumeBytes === null ? '(none: a folder of the data disk)' : `${formatBytes(v.volumeBytes)} XFS, ${v.volumeImage ?? ''}, ${v.volumeMounted ? 'mounted' : 'NOT MOUNTED (its runs fail until it is)'}`}`,
  ];
  return lines.join('\n');
}

export function registerTenant(program: Command): void {
  const tenant = program
    .command('tenant')
    .description("provision and change tenants on the server's data directory (system administrator)")
    .addHelpText(
      'after',
      `
Examples:
  cairn tenant create acme --quota 500GiB --source-root /srv/acme --restore-root /srv/acme/restore
  cairn tenant create beta --volume 50GiB   (its storage root a loop-mounted XFS volume; root only)
  cairn tenant set beta --volume 80GiB      (grows it; XFS cannot shrink)
  cairn tenant list
  cairn tenant set acme --quota 1TiB --max-runs 2 --bandwidth 10MiB
  cairn tenant show acme --json
  cairn tenant delete acme          (only once it has no repositories; a volume is unmounted and
                                     its image removed with whatever it still holds)

A tenant's users never name a path or a program of the server: they back up folders under its
source roots, restore into its restore roots, make repositories by name in its storage root, and
run only the scripts granted to it (docs/security.md).`,
    );

  settingOptions(dataOptions(tenant.command('create <name>')))
    .description(
      'create a tenant with its storage, a first repository and an administrator (password shown once)',
    )
    .option('--repository <name>', 'name of the first repository ("none": none)', 'main')
    .option('--admin <name>', 'name of the first administrator ("none": none)', 'admin')
    .action(
      async (
        name: string,
        flags: DataFlags & SettingFlags & { repository: string; admin: string },
        cmd: Command,
      ) => {
        const g = cmd.optsWithGlobals<GlobalOptions>();
        const api = await import('../api/index.ts');
        const { NameSchema, validate, volumeTools } = await import('../jobs/index.ts');
        if (validate(NameSchema, name).length > 0)
          throw new CairnError('USAGE', `Cannot create tenant "${name}": ${String(NameSchema.description)}`);
        // A machine that cannot mount says so before anything is made, the data directory too.
        if (flags.volume !== undefined)
          volumeTools(`Cannot give tenant ${name} a volume`, ['mkfs.xfs', 'mount', 'umount']);
        await withCatalog(
          flags,
          async (catalog, tenancy) => {
            const p = await api.provisionTenant(
              catalog,
              tenancy,
              {
                name,
                ...settingsOf(flags),
                repository: flags.repository === 'none' ? null : flags.repository,
                admin: flags.admin === 'none' ? null : flags.admin,
              },
              'cairn tenant create',
            );
            if (g.json) {
              process.stdout.write(
                JSON.stringify({
                  ...api.tenantView(p.tenant),
                  repository: p.repository ? { id: p.repository.id, name: p.repository.name } : null,
                  admin: p.admin,
                }) + '\n',
              );
              return;
            }
            process.stdout.write(describe(api.tenantView(p.tenant)) + '\n');
            if (p.repository)
              process.stdout.write(
                `  repository:      ${p.repository.name} (a key of its own, kept wrapped by the server)\n`,
              );
            if (p.admin)
              process.stdout.write(
                `  administrator:   ${p.admin.logon}\n  password:        ${p.admin.password}\n(the password is shown only now: hand it over safely; log on as ${p.admin.logon})\n`,
              );
          },
          { create: true },
        );
      },
    );

  dataOptions(tenant.command('list'))
    .description('list the tenants with their quota and usage')
    .action(async (flags: DataFlags, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const api = await import('../api/index.ts');
      await withCatalog(flags, async (catalog) => {
        const all = (await catalog.listTenants()).map(api.tenantView);
        if (g.json) {
          process.stdout.write(JSON.stringify(all) + '\n');
          return;
        }
        for (const t of all)
          process.stdout.write(
            `${t.name.padEnd(24)} ${t.quotaBytes === null ? 'no quota'.padEnd(12) : formatBytes(t.quotaBytes).padEnd(12)} ${t.usageBytes === null ? '' : `${formatBytes(t.usageBytes)} used`}${t.volumeBytes === null ? '' : ` (volume ${formatBytes(t.volumeBytes)}${t.volumeMounted ? '' : ', not mounted'})`}\n`,
          );
        if (all.length === 0) process.stdout.write('no tenants\n');
      });
    });

  dataOptions(tenant.command('show <name>'))
    .description("a tenant's settings")
    .action(async (name: string, flags: DataFlags, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const api = await import('../api/index.ts');
      await withCatalog(flags, async (catalog) => {
        const v = api.tenantView(await findTenant(catalog, name));
        process.stdout.write((g.json ? JSON.stringify(v) : describe(v)) + '\n');
      });
    });

  settingOptions(dataOptions(tenant.command('set <name>')))
    .description("change a tenant's quota, roots and limits")
    .action(async (name: string, flags: DataFlags & SettingFlags, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const api = await import('../api/index.ts');
      const set = settingsOf(flags);
      if (Object.keys(set).length === 0)
        throw new CairnError('USAGE', 'cairn tenant set: give at least one setting to change');
      await withCatalog(flags, async (catalog, tenancy) => {
        const v = api.tenantView(
          await api.changeTenant(catalog, tenancy, await findTenant(catalog, name), set, 'cairn tenant set'),
        );
        process.stdout.write((g.json ? JSON.stringify(v) : describe(v)) + '\n');
      });
    });

  dataOptions(tenant.command('delete <name>'))
    .description('delete a tenant that has no repositories left, with its users and jobs')
    .action(async (name: string, flags: DataFlags, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const api = await import('../api/index.ts');
      await withCatalog(flags, async (catalog) => {
        const t = await findTenant(catalog, name);
        await api.removeTenant(catalog, t, 'cairn tenant delete');
        process.stdout.write(
          g.json ? JSON.stringify({ deleted: t.name, id: t.id }) + '\n' : `deleted tenant ${t.name}\n`,
        );
      });
    });
}
