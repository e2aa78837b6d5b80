/**
 * The command line: the `cairn` command tree and `main`, the only place that turns an outcome
 * into an exit code (from the error registry). Commands parse, open the repository and present;
 * the work is done by repo/.
 */
import { Command, CommanderError } from 'commander';
import { CairnError, ERRORS } from '../errors.ts';
import { VERSION } from '../version.ts';
import { registerBackup } from './cmd-backup.ts';
import { registerBrowse } from './cmd-browse.ts';
import { registerCheck } from './cmd-check.ts';
import { registerClone } from './cmd-clone.ts';
import { registerCompletion } from './cmd-completion.ts';
import { registerCopy } from './cmd-copy.ts';
import { registerForget } from './cmd-forget.ts';
import { registerPrune } from './cmd-prune.ts';
import { registerRepair } from './cmd-repair.ts';
import { registerInit } from './cmd-init.ts';
import { registerKey } from './cmd-key.ts';
import { registerPlugins } from './cmd-plugins.ts';
import { registerRestore } from './cmd-restore.ts';
import { registerServer } from './cmd-server.ts';
import { registerSimulate } from './cmd-simulate.ts';
import { registerSnapshots } from './cmd-snapshots.ts';
import { registerTag } from './cmd-tag.ts';
import { registerTenant } from './cmd-tenant.ts';
import { registerUnlock } from './cmd-unlock.ts';
import { registerUser } from './cmd-user.ts';
import { outcome } from './output.ts';
import { exitNow, onForcedEnd } from './signals.ts';

export function buildProgram(): Command {
  const program = new Command('cairn')
    .description('Cairn: deduplicated, compressed, encrypted backups')
    .version(VERSION, '-V, --version')
    .option('-r, --repo <dir>', 'repository location (default: $CAIRN_REPOSITORY)')
    .option(
      '--password-file <file>',
      'read the repository password from this file (or $CAIRN_PASSWORD_FILE, $CAIRN_PASSWORD)',
    )
    .option(
      '--password-command <command>',
      'run this program and read the password from the first line it prints (or $CAIRN_PASSWORD_COMMAND; split into words, no shell)',
    )
    .option(
      '--kek-file <file>',
      'open with the key-encryption key in this file (64 hex characters; or $CAIRN_KEK_FILE)',
    )
    .option('--json', 'print JSON instead of text')
    .option('-q, --quiet', 'print only warnings and errors')
    .option(
      '--no-lock',
      'take no lock (commands that only read: restore, ls, find, dump, diff, stats, check, snapshots), for a read-only or immutable repository',
    )
    .showHelpAfterError('(run with --help for usage)')
    .addHelpText(
      'after',
      `
Getting started:
  export CAIRN_REPOSITORY=/srv/backup/repo CAIRN_PASSWORD_FILE=/root/.cairn-password
  cairn init                                   create the repository (keep the password safe)
  cairn backup /etc /home --exclude-caches     a snapshot; the next one reads only changed files
  cairn snapshots                              what there is
  cairn restore latest --target /tmp/restore   paths come back under the target
  cairn forget --keep-daily 7 --keep-weekly 4 --prune
  cairn check --read-data                      prove every byte is still readable

Every command has --help and --json. Exit codes: 0 done, 1 unexpected failure, 2 usage, 3 done
with warnings, 10 no repository, 11 locked, 12 wrong password, 130 interrupted; the full list is
in docs/errors.md.`,
    )
    // Each command's --help also lists -r/--repo and the password options it needs.
    .configureHelp({ showGlobalOptions: true })
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  registerInit(program);
  registerBackup(program);
  registerSnapshots(program);
  registerTag(program);
  registerRestore(program);
  registerBrowse(program);
  registerCheck(program);
  registerForget(program);
  registerPrune(program);
  registerRepair(program);
  registerKey(program);
  registerUnlock(program);
  registerClone(program);
  registerSimulate(program);
  registerServer(program);
  registerTenant(program);
  registerUser(program);
  registerCopy(program);
  registerPlugins(program);
  registerCompletion(program);
  for (const c of program.commands) {
    c.exitOverride();
    for (const sub of c.commands) sub.exitOverride();
  }
  return program;
}

/** What `cairn` alone prints: what it is, the commands in a line each, where to read more. */
export function shortHelp(program: Command): string {
  const width = Math.max(...program.commands.map((c) => c.name().length));
  const lines = program.commands
    .filter((c) => c.name() !== 'help')
    .map((c) => {
      // The description's first clause: up to ";" or " (", and up to ":" unless that leaves a stub.
      let head = c.description().split(/;| \(/, 1)[0]!.trim();
      const colon = head.indexOf(':');
      if (colon >= 12) head = head.slice(0, colon);
      return `  ${c.name().padEnd(width)}  ${head}`;
    });
  return `cairn ${VERSION}: deduplicated, compressed, encrypted backups

Usage: cairn [options] <command> [arguments]

Commands:
${lines.join('\n')}

"cairn --help" lists every option and how to start; "cairn help <command>" explains one.
`;
}

/**
 * Runs one command and returns its exit code. An interrupted command that does not stop within
 * the grace period (see signals.ts) does not return: its error is reported here and the process
 * ends with that error's exit code.
 */
export async function main(argv: readonly string[]): Promise<number> {
  const program = buildProgram();
  const json = argv.includes('--json');
  // Said once: as JSON on standard output with --json, else as a line on standard error.
  const report = (err: CairnError): number => {
    if (json)
      process.stdout.write(
        JSON.stringify({
          message_type: 'error',
          code: err.code,
          exit_code: err.spec.exit,
          message: err.message,
        }) + '\n',
      );
    else process.stderr.write(`error: ${err.message} [${err.code}]\n`);
    return err.spec.exit;
  };
  onForcedEnd((err) => exitNow(report(err)));
  if (argv.length === 0) {
    // Nothing asked: a short help on standard output, not an error.
    process.stdout.write(shortHelp(program));
    return 0;
  }
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return outcome.warnings > 0 ? 3 : 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here too, with exit code 0.
      return err.exitCode === 0 ? 0 : ERRORS.USAGE.exit;
    }
    if (err instanceof CairnError) return report(err);
    process.stderr.write(
      `error: unexpected failure (a bug, please report it): ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    return ERRORS.INTERNAL.exit;
  }
}
