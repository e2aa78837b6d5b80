import type { Command } from 'commander';
import { CairnError } from '../errors.ts';
import { readKeySlots, writeKeySlot } from '../repo/index.ts';
import { outcome } from './output.ts';
import { openSession, type GlobalOptions } from './context.ts';
import { resolveNewSecret } from './secrets.ts';

interface NewSecretFlags {
  readonly newPasswordFile?: string;
  readonly newKekFile?: string;
  readonly label?: string;
}

export function registerKey(program: Command): void {
  const key = program
    .command('key')
    .description('manage key slots: each opens the repository with one password or key-encryption key');

  key
    .command('list')
    .description('list key slots')
    .action(async (_flags: unknown, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const s = await openSession(g, { lock: 'none', command: 'key list', index: false, readOnly: true });
      try {
        const { slots, damaged } = await readKeySlots(s.repo.backend);
        // With --json stdout is one JSON array, so damaged slots are reported on stderr.
        for (const d of damaged) {
          if (s.out.json) process.stderr.write(`warning: ${d.message}\n`);
          else s.out.warn(d.message);
        }
        outcome.warnings += damaged.length;
        if (s.out.json) {
          process.stdout.write(
            JSON.stringify(
              slots.map((k) => ({
                id: k.id,
                current: k.id === s.repo.slot?.id,
                kind: k.kind,
                created: k.created,
                host: k.host,
                user: k.user,
                ...(k.label ? { label: k.label } : {}),
                ...(k.kdf ? { kdf: { name: k.kdf.name, N: k.kdf.N, r: k.kdf.r, p: k.kdf.p } } : {}),
              })),
            ) + '\n',
          );
          return;
        }
        s.out.line(' ID        Kind      Created              Host / user        Label');
        for (const k of slots) {
          const mark = k.id === s.repo.slot?.id ? '*' : ' ';
          s.out.line(
            `${mark}${k.id.slice(0, 8)}  ${k.kind.padEnd(8)}  ${k.created.replace('T', ' ').slice(0, 19)}  ${`${k.host} / ${k.user}`.padEnd(18)} ${k.label ?? ''}`,
          );
        }
        s.out.line('(* = the slot that opened the repository now)');
      } finally {
        await s.close();
      }
    });

  const addSecretOptions = (c: Command) =>
    c
      .option(
        '--new-password-file <file>',
        'read the new password from this file (else CAIRN_NEW_PASSWORD or a prompt)',
      )
      .option(
        '--new-kek-file <file>',
        'add a key-encryption-key slot for the 32-byte key in this file (64 hex characters)',
      )
      .option('--label <text>', 'a note to tell the slot apart');

  addSecretOptions(
    key.command('add').description('add a key slot for a new password or key-encryption key'),
  ).action(async (flags: NewSecretFlags, cmd: Command) => {
    const g = cmd.optsWithGlobals<GlobalOptions>();
    const s = await openSession(g, { lock: 'shared', command: 'key add', index: false });
    try {
      const secret = await resolveNewSecret(flags, undefined);
      const id = await writeKeySlot(
        s.repo.backend,
        s.repo.key,
        secret,
        flags.label ? { label: flags.label } : {},
      );
      s.out.line(`added key slot ${id.slice(0, 8)}`);
      s.out.emit({ message_type: 'key_added', id });
    } finally {
      await s.close();
    }
  });

  key
    .command('remove')
    .description('remove a key slot (never the last one)')
    .argument('<id>', 'key slot id or unique prefix')
    .action(async (ref: string, _flags: unknown, cmd: Command) => {
      const g = cmd.optsWithGlobals<GlobalOptions>();
      const s = await openSession(g, { lock: 'exclusive', command: 'key remove', index: false });
      try {
        // A damaged slot (one that does not parse) can be removed too: that is how one gets rid of it.
        const { slots } = await readKeySlots(s.repo.backend);
        const names: string[] = [];
        for await (const f of s.repo.backend.list('keys')) names.push(f.name);
        const found = names.filter((n) => n.startsWith(ref));
        if (ref.length === 0 || found.length === 0)
          throw new CairnError('KEY_NOT_FOUND', `Cannot remove key slot ${ref}: no slot has that id`);
        if (found.length > 1)
          throw new CairnError(
            'USAGE',
            `Cannot remove key slot ${ref}: it matches ${found.length} slots; give more characters`,
          );
        const name = found[0] as string;
        const slot = slots.find((k) => k.id === name);
        if (slot === undefined) {
          await s.repo.backend.remove({ type: 'keys', name });
          s.out.line(`removed damaged key slot ${name.slice(0, 8)}`);
          s.out.emit({ message_type: 'key_removed', id: name, damaged: true });
          return;
        }
        if (slots.length === 1) {
          throw new CairnError(
            'KEY_LAST_SLOT',
            `Cannot remove key slot ${slot.id.slice(0, 8)}: it is the last one, and without it nobody could open the repository`,
          );
        }
        if (slot.id === s.repo.slot?.id) {
          throw new CairnError(
            'USAGE',
            `Cannot remove key slot ${slot.id.slice(0, 8)}: it is the one in use now; open the repository with another slot, or use "cairn key passwd"`,
          );
        }
        await s.repo.backend.remove({ type: 'keys', name: slot.id });
        s.out.line(`removed key slot ${slot.id.slice(0, 8)}`);
        s.out.emit({ message_type: 'key_removed', id: slot.id });
      } finally {
        await s.close();
      }
    });

  addSecretOptions(
    key.command('passwd').description('replace the slot in use by one for a new password or KEK'),
  ).action(async (flags: NewSecretFlags, cmd: Command) => {
    const g = cmd.optsWithGlobals<GlobalOptions>();
    const s = await openSession(g, { lock: 'exclusive', command: 'key passwd', index: false });
    try {
      const secret = await resolveNewSecret(flags, undefined);
      const old = s.repo.slot;
      // Add first, remove after: a crash in between leaves two working slots, never none.
      const id = await writeKeySlot(
        s.repo.backend,
        s.repo.key,
        secret,
        // The new slot keeps the old one's label unless another is given.
        (flags.label ?? old?.label) !== undefined ? { label: (flags.label ?? old?.label)! } : {},
      );
      if (old) await s.repo.backend.remove({ type: 'keys', name: old.id });
      s.out.line(`replaced key slot ${old?.id.slice(0, 8) ?? '?'} by ${id.slice(0, 8)}`);
      s.out.emit({ message_type: 'key_changed', id, removed: old?.id });
    } finally {
      await s.close();
    }
  });
}
