// Every kind of file comes back as it was: type, content, mode, owner, nanosecond times, extended
// attributes and ACLs, hard-link identity, FIFOs and device nodes.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { constants, promises as fs } from 'node:fs';
import path from 'node:path';
import { native } from '../native/index.ts';
import { backup } from './archiver.ts';
import { initRepo, tempDir } from './fixtures.testing.ts';
import { restore } from './restorer.ts';

const isRoot = process.getuid?.() === 0;

describe('restore fidelity', () => {
  it('brings back hard links, FIFOs, device nodes, xattrs, ACLs and nanosecond times', async (t) => {
    const n = native;
    if (!n) throw new Error('the native addon is not built: run npm ci');
    if (!isRoot) return t.skip('device nodes and owners need root');
    const dir = await tempDir(t, 'cairn-fidelity-');
    const src = path.join(dir, 'src');
    await fs.mkdir(path.join(src, 'sub'), { recursive: true });
    const f = (rel: string) => path.join(src, rel);
    await fs.writeFile(f('data.txt'), 'linked content\n');
    await fs.link(f('data.txt'), f('sub/second-name.txt'));
    await fs.link(f('data.txt'), f('third-name.txt'));
    n.mknod(f('pipe'), constants.S_IFIFO | 0o620, 0, 0);
    n.mknod(f('null-dev'), constants.S_IFCHR | 0o666, 1, 3);
    n.mknod(f('block-dev'), constants.S_IFBLK | 0o660, 7, 200);
    await fs.writeFile(f('attrs.txt'), 'with attributes');
    n.lsetxattr(f('attrs.txt'), 'user.origin', Buffer.from('cairn test'));
    n.lsetxattr(f('attrs.txt'), 'user.binary', Buffer.from([0, 1, 2, 255]));
    const acl = spawnSync('setfacl', ['-m', 'u:nobody:r--,g:daemon:rw-', f('attrs.txt')]);
    assert.equal(acl.status, 0, `setfacl: ${String(acl.stderr)}`);
    await fs.chown(f('sub'), 1, 2);
    n.lutimesNs(f('data.txt'), 1600000000, 5, 1500000000, 123456789);

    const repo = await initRepo(path.join(dir, 'repo'));
    const warnings: unknown[] = [];
    const r = await backup(repo, [src], { onWarning: (w) => warnings.push(w) });
    assert.deepEqual(warnings, []);
    const target = path.join(dir, 'target');
    const restoreWarnings: unknown[] = [];
    const sum = await restore(repo, { ...r.snapshot, id: r.id }, target, {
      onWarning: (w) => restoreWarnings.push(w),
    });
    assert.deepEqual(restoreWarnings, []);
    assert.equal(sum.hardLinks, 2);
    assert.equal(sum.specials, 3);

    const g = (rel: string) => path.join(target, src, rel);
    // Times first: reading a file afterwards moves its access time.
    const times = await fs.stat(g('data.txt'), { bigint: true });
    assert.equal(times.mtimeNs, 1500000000123456789n);
    assert.equal(times.atimeNs, 1600000000000000005n);
    const [a, b, c] = await Promise.all([
      fs.stat(g('data.txt')),
      fs.stat(g('sub/second-name.txt')),
      fs.stat(g('third-name.txt')),
    ]);
    assert.equal(a.ino, b.ino, 'hard links share one inode');
    assert.equal(a.ino, c.ino);
    assert.equal(a.nlink, 3);
    assert.equal(await fs.readFile(g('sub/second-name.txt'), 'utf8'), 'linked content\n');

    const pipe = await fs.lstat(g('pipe'));
    assert.ok(pipe.isFIFO());
    assert.equal(pipe.mode & 0o7777, (await fs.lstat(f('pipe'))).mode & 0o7777);
    const chr = await fs.lstat(g('null-dev'));
    assert.ok(chr.isCharacterDevice());
    assert.equal(chr.rdev, (await fs.lstat(f('null-dev'))).rdev);
    const blk = await fs.lstat(g('block-dev'));
    assert.ok(blk.isBlockDevice());
    assert.equal(blk.rdev, (await fs.lstat(f('block-dev'))).rdev);

    const attrs = new Map(n.lgetxattrs(g('attrs.txt')).map(([k, v]) => [k, v.toString('hex')]));
    assert.equal(attrs.get('user.origin'), Buffer.from('cairn test').toString('hex'));
    assert.equal(attrs.get('user.binary'), '000102ff');
    const aclOut = spawnSync('getfacl', ['--omit-header', '--absolute-names', g('attrs.txt')]);
    assert.match(String(aclOut.stdout), /user:nobody:r--/);
    assert.match(String(aclOut.stdout), /group:daemon:rw-/);

    const sub = await fs.stat(g('sub'));
    assert.deepEqual([sub.uid, sub.gid], [1, 2]);
  });

  it('maps owners by name unless asked for numbers', async (t) => {
    if (!isRoot) return t.skip('owners need root');
    const dir = await tempDir(t, 'cairn-owner-');
    const src = path.join(dir, 'src');
    await fs.mkdir(src);
    await fs.writeFile(path.join(src, 'f'), 'x');
    await fs.chown(path.join(src, 'f'), 1, 1);
    const repo = await initRepo(path.join(dir, 'repo'));
    const r = await backup(repo, [src]);
    // Pretend the snapshot came from a machine where "daemon" (uid 1 here) had uid 4242.
    const tree = await repo.loadTree(r.snapshot.tree);
    assert.ok(tree.nodes.length > 0);
    const snap = { ...r.snapshot, id: r.id };
    const rewrite = async (id: string): Promise<string> => {
      const t2 = await repo.loadTree(id);
      const nodes = await Promise.all(
        t2.nodes.map(async (node) =>
          node.subtree
            ? { ...node, subtree: await rewrite(node.subtree) }
            : node.name === 'f'
              ? { ...node, uid: 4242, gid: 4242 }
              : node,
        ),
      );
      return (await repo.saveTree({ nodes })).id.toString('hex');
    };
    const foreign = { ...snap, tree: await rewrite(snap.tree) };
    await repo.flush();
    await restore(repo, foreign, path.join(dir, 'by-name'));
    const byName = await fs.stat(path.join(dir, 'by-name', src, 'f'));
    assert.deepEqual([byName.uid, byName.gid], [1, 1], 'the names daemon/daemon map to the local ids');
    await restore(repo, foreign, path.join(dir, 'by-number'), { numericOwner: true });
    const byNumber = await fs.stat(path.join(dir, 'by-number', src, 'f'));
    assert.deepEqual([byNumber.uid, byNumber.gid], [4242, 4242]);
  });
});
