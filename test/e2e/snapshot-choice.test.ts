// Choosing a snapshot from the command line: --host, --tag and --path, "latest" beside a damaged
// snapshot file, and `cairn tag`.
import assert from 'node:assert/strict';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { flipByte } from '../../src/repo/fixtures.testing.ts';
import { cairn, esc, jsonLines, message, removeTemp, show } from './cli.testing.ts';
import { tempRepo } from './repo.testing.ts';

const PASSWORD = 'snapshot-choice-e2e-password';

interface Listed {
  id: string;
  host?: string;
  tags?: string[];
  paths?: string[];
  original?: string;
  damaged?: boolean;
  reason?: string;
}

describe('choosing snapshots', () => {
  let dir: string;
  let env: Record<string, string>;
  let etc: string;
  let srv: string;
  /** Snapshot ids by name, oldest first: web-etc (daily), web-srv (daily,prod), db-etc (weekly). */
  const ids: Record<string, string> = {};

  async function snapshots(...args: string[]): Promise<Listed[]> {
    const r = await cairn(['snapshots', '--json', ...args], { env });
    assert.ok(r.code === 0 || r.code === 3, show(r));
    return JSON.parse(r.stdout) as Listed[];
  }

  async function backup(name: string, src: string, host: string, tags: string[]): Promise<void> {
    const r = await cairn(['backup', src, '--host', host, '--json', ...tags.flatMap((t) => ['--tag', t])], {
      env,
    });
    assert.equal(r.code, 0, show(r));
    ids[name] = String(message(r.stdout, 'summary').snapshot_id);
  }

  /** The snapshot (its first 12 hex digits) restore chooses for these arguments: its dry run names it. */
  async function chosen(...args: string[]): Promise<string> {
    const r = await cairn(['restore', ...args, '--target', path.join(dir, 'unused'), '--dry-run'], { env });
    assert.equal(r.code, 0, show(r));
    const m = /restoring snapshot ([0-9a-f]{12})/.exec(r.stdout);
    assert.ok(m, show(r));
    return m[1]!;
  }

  before(async () => {
    ({ dir, env } = await tempRepo(PASSWORD));
    etc = path.join(dir, 'etc');
    srv = path.join(dir, 'srv');
    await fs.mkdir(etc);
    await fs.mkdir(srv);
    await fs.writeFile(path.join(etc, 'hosts'), 'etc\n');
    await fs.writeFile(path.join(srv, 'site'), 'srv\n');
    await backup('web-etc', etc, 'web', ['daily']);
    await backup('web-srv', srv, 'web', ['daily', 'prod']);
    await backup('db-etc', etc, 'db', ['weekly']);
  });

  after(() => removeTemp(dir));

  it('chooses "latest" among the snapshots of a host, of tags and of a path', async () => {
    const short = (name: string) => ids[name]!.slice(0, 12);
    assert.equal(await chosen('latest'), short('db-etc'));
    assert.equal(await chosen('latest', '--host', 'web'), short('web-srv'));
    assert.equal(await chosen('latest', '--host', 'web', '--path', etc), short('web-etc'));
    // "a,b" needs both tags; a repeated --tag takes either.
    assert.equal(await chosen('latest', '--tag', 'daily,prod'), short('web-srv'));
    assert.equal(await chosen('latest', '--tag', 'daily', '--tag', 'weekly'), short('db-etc'));
    assert.equal(await chosen('latest', '--tag', 'prod', '--tag', 'nothing'), short('web-srv'));
    // An id names its snapshot whatever the filters.
    assert.equal(await chosen(ids['web-etc']!.slice(0, 8), '--host', 'db'), short('web-etc'));

    const none = await cairn(['ls', 'latest', '--host', 'mail'], { env });
    assert.equal(none.code, 30, show(none));
    assert.match(none.stderr, /has none of host mail \[SNAPSHOT_NOT_FOUND\]/);
  });

  it('filters ls, dump, diff, find, stats and snapshots with the same options', async () => {
    const ls = await cairn(['ls', 'latest', '--host', 'web', '--tag', 'daily'], { env });
    assert.equal(ls.code, 0, show(ls));
    assert.match(ls.stdout, /\/srv\/site$/m);

    const dump = await cairn(['dump', 'latest', path.join(etc, 'hosts'), '--host', 'web'], { env });
    assert.equal(dump.code, 30, show(dump));
    assert.match(dump.stderr, /not found|no such|Cannot find/i);

    const diff = await cairn(['diff', ids['web-etc']!, 'latest', '--path', etc, '--json'], { env });
    assert.equal(diff.code, 0, show(diff));
    assert.equal(message(diff.stdout, 'statistics').target_snapshot, ids['db-etc']);

    const find = await cairn(['find', 'hosts', '--host', 'web', '--json'], { env });
    assert.equal(find.code, 0, show(find));
    assert.deepEqual(
      jsonLines(find.stdout)
        .filter((m) => m.message_type === 'found')
        .map((m) => m.snapshot),
      [ids['web-etc']],
    );

    const stats = await cairn(['stats', '--tag', 'daily', '--json'], { env });
    assert.equal(stats.code, 0, show(stats));
    assert.equal(message(stats.stdout, 'stats').snapshots_count, 2);

    assert.deepEqual(
      (await snapshots('--host', 'web', '--host', 'db', '--path', etc)).map((s) => s.id),
      [ids['web-etc'], ids['db-etc']],
    );
    assert.deepEqual(
      (await snapshots('--tag', 'prod,daily')).map((s) => s.id),
      [ids['web-srv']],
    );
  });

  it('lets forget --tag and --path narrow what a policy judges', async () => {
    const r = await cairn(
      ['forget', '--keep-last', '1', '--group-by', 'host', '--tag', 'daily', '--dry-run', '--json'],
      {
        env,
      },
    );
    assert.equal(r.code, 0, show(r));
    assert.deepEqual(message(r.stdout, 'forget').removed, [ids['web-etc']]);
    // "latest" is still a name forget takes, and the filters choose it.
    const latest = await cairn(['forget', 'latest', '--host', 'web', '-n', '--json'], { env });
    assert.equal(latest.code, 0, show(latest));
    assert.deepEqual(message(latest.stdout, 'forget').removed, [ids['web-srv']]);
    const byPath = await cairn(
      ['forget', '--keep-last', '1', '--group-by', '', '--path', etc, '-n', '--json'],
      {
        env,
      },
    );
    assert.equal(byPath.code, 0, show(byPath));
    assert.deepEqual(message(byPath.stdout, 'forget').removed, [ids['web-etc']]);
  });

  it('changes tags by writing each changed snapshot anew, and can say so first', async () => {
    const dry = await cairn(['tag', '--add', 'keep', '--host', 'web', '--dry-run', '--json'], { env });
    assert.equal(dry.code, 0, show(dry));
    const planned = message(dry.stdout, 'tag') as { changed: { old: string; new?: string }[] };
    assert.deepEqual(
      planned.changed.map((c) => [c.old, c.new]).sort(),
      [
        [ids['web-etc'], undefined],
        [ids['web-srv'], undefined],
      ].sort(),
    );
    assert.equal((await snapshots()).length, 3);

    const r = await cairn(
      ['tag', '--add', 'keep', '--remove', 'prod', ids['web-srv']!.slice(0, 8), '--json'],
      {
        env,
      },
    );
    assert.equal(r.code, 0, show(r));
    const done = message(r.stdout, 'tag') as { changed: { old: string; new: string; tags: string[] }[] };
    assert.equal(done.changed.length, 1);
    assert.equal(done.changed[0]!.old, ids['web-srv']);
    assert.deepEqual(done.changed[0]!.tags, ['daily', 'keep']);
    const now = await snapshots();
    assert.ok(!now.some((s) => s.id === ids['web-srv']), 'the old file is gone');
    const retagged = now.find((s) => s.id === done.changed[0]!.new)!;
    assert.deepEqual(retagged.tags, ['daily', 'keep']);
    assert.equal(retagged.original, ids['web-srv']);
    ids['web-srv'] = retagged.id;

    const again = await cairn(['tag', '--add', 'keep', ids['web-srv']], { env });
    assert.equal(again.code, 0, show(again));
    assert.match(again.stdout, /0 snapshots changed, 1 already as asked/);

    const nothing = await cairn(['tag', ids['web-srv']], { env });
    assert.equal(nothing.code, 2, show(nothing));
    assert.match(nothing.stderr, /give --add, --remove or --set/);
  });

  it('names a damaged newest snapshot instead of restoring an older one, until forget removes it', async () => {
    const newest = ids['db-etc']!;
    const file = path.join(env.CAIRN_REPOSITORY!, 'snapshots', newest);
    await flipByte(file, 40);

    const latest = await cairn(['restore', 'latest', '--target', path.join(dir, 'r1')], { env });
    assert.equal(latest.code, 24, show(latest));
    assert.match(
      latest.stderr,
      new RegExp(`snapshot file ${newest} cannot be read .*\\[SNAPSHOT_CORRUPT\\]`),
    );
    assert.match(latest.stderr, /cairn forget/);
    await assert.rejects(fs.stat(path.join(dir, 'r1')), 'nothing was restored');
    // A filter cannot leave it out: its host is unknown.
    const filtered = await cairn(['ls', 'latest', '--host', 'web'], { env });
    assert.equal(filtered.code, 24, show(filtered));

    const byId = await cairn(['restore', newest.slice(0, 8), '--target', path.join(dir, 'r2')], { env });
    assert.equal(byId.code, 24, show(byId));
    assert.match(byId.stderr, /its file is damaged \(its content does not match its name/);

    const listed = await cairn(['snapshots'], { env });
    assert.equal(listed.code, 3, show(listed));
    assert.match(
      listed.stdout,
      new RegExp(`^${newest.slice(0, 8)}  damaged: its content does not match`, 'm'),
    );
    const json = await snapshots();
    assert.deepEqual(
      json.filter((s) => s.damaged).map((s) => s.id),
      [newest],
    );

    const forget = await cairn(['forget', newest.slice(0, 8), '--json'], { env });
    assert.equal(forget.code, 0, show(forget));
    assert.deepEqual(message(forget.stdout, 'forget').removed, [newest]);
    assert.match(forget.stdout, new RegExp(`"damaged":\\[\\{"id":"${esc(newest)}"`));

    assert.equal(await chosen('latest'), ids['web-srv']!.slice(0, 12));
    const clean = await cairn(['snapshots'], { env });
    assert.equal(clean.code, 0, show(clean));
  });
});
