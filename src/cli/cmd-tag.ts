import type { Command } from 'commander';
import { CairnError } from '../errors.ts';
import { changedTags, matchesFilter, retagSnapshots, type SnapshotInfo } from '../repo/index.ts';
import { snapshotFilter, withFilterOptions, type FilterFlags } from './choose.ts';
import { openSession, type GlobalOptions } from './context.ts';
import { outcome, plural } from './output.ts';

interface TagFlags extends FilterFlags {
  readonly add?: string[];
  readonly remove?: string[];
  readonly set?: string[];
  readonly dryRun?: boolean;
}

const repeatable = (v: string, prev: string[] | undefined) => [...(prev ?? []), v];

/** "a,b" and repeated options both give several tags. */
const tags = (values: readonly string[] | undefined) =>
  values?.flatMap((v) => v.split(',').map((t) => t.trim())).filter((t) => t.length > 0);

export function registerTag(program: Command): void {
  withFilterOptions(
    program
      .command('tag')
      .description("change snapshots' tags: each changed snapshot is written anew (a new id)")
      .argument(
        '[snapshot...]',
        'snapshots to change ("latest" or ids); all that match the filters when none is named',
      )
      .option('--add <tag[,tag...]>', 'add these tags (repeatable)', repeatable)
      .option('--remove <tag[,tag...]>', 'remove these tags (repeatable)', repeatable)
      .option(
        '--set <tag[,tag...]>',
        'replace the tags with these (repeatable; not with --add or --remove)',
        repeatable,
      )
      .option('-n, --dry-run', 'only say which snapshots would change'),
    'only',
  )
    .addHelpText(
      'after',
      `
A snapshot's id is the hash of its file, so a snapshot with other tags gets a new id; the new
file records the old id as "original" (as a copy does) and keeps everything else. The old file is
removed only once the new one is durable. Snapshots whose tags would not change are left alone.

Example: cairn tag --add keep --host db latest`,
    )
    .action(async (refs: string[], flags: TagFlags, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const add = tags(flags.add);
      const remove = tags(flags.remove);
      const set = flags.set === undefined ? undefined : (tags(flags.set) ?? []);
      const change = {
        ...(add ? { add } : {}),
        ...(remove ? { remove } : {}),
        ...(set ? { set } : {}),
      };
      changedTags([], change); // refuses a change that says nothing before the repository is opened
      const s = await openSession(g, { lock: 'shared', command: 'tag', index: false });
      try {
        const filter = snapshotFilter(flags);
        let chosen: SnapshotInfo[];
        if (refs.length > 0) {
          chosen = [];
          for (const ref of refs) chosen.push(await s.repo.findSnapshot(ref, filter));
          chosen = [...new Map(chosen.map((x) => [x.id, x])).values()];
        } else {
          const { snapshots, damaged } = await s.repo.listSnapshots();
          for (const d of damaged) {
            s.out.warn(`snapshot file ${d.id} cannot be read (${d.reason}): its tags are left as they are`);
          }
          outcome.warnings += damaged.length;
          chosen = snapshots.filter((x) => matchesFilter(x, filter));
        }
        if (chosen.length === 0) {
          throw new CairnError('SNAPSHOT_NOT_FOUND', 'Cannot change tags: no snapshot matches');
        }
        const r = await retagSnapshots(s.repo, chosen, change, { dryRun: flags.dryRun === true });
        for (const c of r.changed) {
          const to = c.new === undefined ? 'would be written anew' : `is now ${c.new.slice(0, 8)}`;
          s.out.line(`snapshot ${c.old.slice(0, 8)} ${to}, tags: ${c.tags.join(',') || '(none)'}`);
        }
        s.out.line(
          `${flags.dryRun ? 'dry run: ' : ''}${plural(r.changed.length, 'snapshot')} ${flags.dryRun ? 'would change' : 'changed'}` +
            (r.unchanged.length > 0 ? `, ${r.unchanged.length} already as asked` : ''),
        );
        s.out.emit({
          message_type: 'tag',
          dry_run: flags.dryRun === true,
          changed: r.changed.map((c) => ({ old: c.old, ...(c.new ? { new: c.new } : {}), tags: c.tags })),
          unchanged: r.unchanged,
        });
      } finally {
        await s.close();
      }
    });
}
