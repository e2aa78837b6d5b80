/**
 * `cairn user passwd`: the machine owner sets a server user's password in the server's catalog,
 * found as `cairn server` finds it (--data-dir, --catalog). Works while the server runs: the
 * user's sessions end at once. The new password comes from a prompt or standard input, never argv.
 */
import type { Command } from 'commander';
import type { Catalog, UserRow } from '../catalog/index.ts';
import { CairnError } from '../errors.ts';
import type { GlobalOptions } from './context.ts';
import { makeOutput, plural } from './output.ts';
import { promptHidden } from './secrets.ts';

interface PasswdFlags {
  readonly tenant?: string;
  readonly dataDir?: string;
  readonly catalog?: string;
}

/** Passwords longer than this are refused (as by the API). */
const MAX_PASSWORD = 1024;

async function readStdin(limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of process.stdin as AsyncIterable<Buffer>) {
    chunks.push(chunk);
    size += chunk.length;
    if (size > limit) break;
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** The new password: asked twice on a terminal, else the first line of standard input. */
async function newPassword(who: string): Promise<string> {
  let password: string;
  if (process.stdin.isTTY) {
    password = await promptHidden(`New password for ${who}: `);
    if ((await promptHidden('Repeat the new password: ')) !== password)
      throw new CairnError('USAGE', `Cannot set the password of ${who}: the two entries differ`);
  } else {
    const text = await readStdin(64 * 1024);
    if (text === '')
      throw new CairnError(
        'USAGE',
        `Cannot set the password of ${who}: standard input is empty (type it on a terminal, or pipe it in)`,
      );
    password = text.split(/\r?\n/, 1)[0] ?? '';
  }
  if (password.length < 8)
    throw new CairnError('USAGE', `Cannot set the password of ${who}: it is shorter than 8 characters`);
  if (password.length > MAX_PASSWORD)
    throw new CairnError(
      'USAGE',
      `Cannot set the password of ${who}: it is longer than ${MAX_PASSWORD} characters`,
    );
  return password;
}

/**
 * The user NAME names: NAME@TENANT, or NAME with --tenant, as a logon finds it; a plain NAME
 * without a tenant is the plain user, else the one tenant user of that name. This is the machine
 * owner's tool, so it may say in which tenants a name exists.
 */
async function findUser(catalog: Catalog, typed: string, tenantFlag: string | undefined): Promise<UserRow> {
  const { splitUserName } = await import('../catalog/index.ts');
  const { name, tenant: typedTenant } = splitUserName(typed);
  if (typedTenant !== null && tenantFlag !== undefined && typedTenant !== tenantFlag)
    throw new CairnError(
      'USAGE',
      `${typed} names tenant ${typedTenant} but --tenant names ${tenantFlag}: give one`,
    );
  const tenant = typedTenant ?? tenantFlag;
  if (tenant !== undefined) {
    if (!(await catalog.tenantByName(tenant)))
      throw new CairnError(
        'NOT_FOUND',
        `Cannot find user ${name} in tenant ${tenant}: there is no such tenant`,
      );
    const user = await catalog.userForLogon(name, tenant, tenant);
    if (!user) throw new CairnError('NOT_FOUND', `Cannot find user ${name} in tenant ${tenant}`);
    return user;
  }
  const all = await catalog.usersNamed(name);
  const plain = all.find((u) => u.name === name);
  if (plain) return plain;
  if (all.length === 1) return all[0]!;
  if (all.length === 0) throw new CairnError('NOT_FOUND', `Cannot find user ${name}: no user has that name`);
  throw new CairnError(
    'USAGE',
    `User ${name} exists in tenants ${all.map((u) => splitUserName(u.name).tenant ?? '').join(', ')}: give --tenant`,
  );
}

export function registerUser(program: Command): void {
  const user = program
    .command('user')
    .description("manage the server's users in its catalog (run as the server's owner, on its machine)");

  user
    .command('passwd')
    .description("set a user's password; the user's sessions end (the server may be running)")
    .argument('<name>', 'the user: NAME, NAME@TENANT, or NAME with --tenant')
    .option('--tenant <name>', 'the tenant whose user NAME is')
    .option(
      '--data-dir <dir>',
      "the server's data directory (default: $XDG_DATA_HOME/cairn, else ~/.local/share/cairn)",
    )
    .option(
      '--catalog <url>',
      "the server's catalog: a file or postgres://… (default: catalog.db in the data directory)",
    )
    .addHelpText(
      'after',
      `
The new password is asked twice on a terminal; otherwise the first line of standard input is
taken (it is never an argument, where every user of the machine could read it). Setting the first
administrator's password removes <data-dir>/initial-admin-password.

Examples:
  cairn user passwd admin
  cairn user passwd bob --tenant acme --data-dir /var/lib/cairn
  printf '%s\\n' "$NEW" | cairn user passwd bob@acme --catalog postgres://cairn@db/cairn`,
    )
    .action(async (name: string, flags: PasswdFlags, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const out = makeOutput(g);
      const [
        { serverPaths, hashPassword, initialPasswordPath, requireCatalog, retireInitialPassword },
        { Catalog, describeCatalog },
      ] = await Promise.all([import('../api/index.ts'), import('../catalog/index.ts')]);
      const { dataDir, catalogUrl } = serverPaths(flags);
      requireCatalog(catalogUrl);
      const catalog = await Catalog.open(catalogUrl);
      try {
        const target = await findUser(catalog, name, flags.tenant);
        const password = await newPassword(target.name);
        await catalog.updateUser(target.id, { passwordHash: await hashPassword(password) });
        const ended = await catalog.deleteSessionsOf(target.id);
        const retired = await retireInitialPassword(initialPasswordPath(dataDir), target.password_hash);
        const { splitUserName } = await import('../catalog/index.ts');
        const scope = splitUserName(target.name).tenant;
        const tenantId = scope
          ? ((await catalog.tenantByName(scope))?.id ?? null)
          : ((await catalog.rolesOf(target.id))[0]?.tenant_id ?? null);
        await catalog.audit({
          tenantId,
          user: 'cairn user passwd',
          action: 'user.password',
          object: target.id,
          detail: {
            name: target.name,
            sessionsEnded: ended,
            ...(retired ? { initialPasswordFileRemoved: true } : {}),
          },
        });
        out.line(
          `password of ${target.name} set in ${describeCatalog(catalogUrl)}; ${plural(ended, 'session')} ended`,
        );
        if (retired) out.line(`removed ${initialPasswordPath(dataDir)}: it held the old password`);
        out.emit({
          message_type: 'password_set',
          user: target.name,
          sessionsEnded: ended,
          initialPasswordFileRemoved: retired,
        });
      } finally {
        await catalog.close();
      }
    });
}
