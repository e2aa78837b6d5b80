/**
 * `restore -i`: a small shell over a snapshot's tree, in the habits of Bareos' bconsole: walk with
 * cd and ls, mark and unmark files and folders, see what is marked and how big it is, then `done`
 * restores the marked paths (or `quit` leaves without restoring).
 */
import path from 'node:path';
import { createInterface } from 'node:readline';
import picomatch from 'picomatch';
import { CairnError } from '../errors.ts';
import { findNode, walk, type Repository, type SnapshotInfo, type TreeNode } from '../repo/index.ts';
import { formatBytes, plural } from './output.ts';

const HELP = `commands:
  ls [PATH]          list a folder (marked entries start with *)
  cd PATH            change folder (.. goes up, / is the top)
  pwd                show the current folder
  mark PATTERN...    mark entries of this folder (names or globs like *.conf; a folder with all it holds)
  unmark PATTERN...  unmark them
  marked             list what is marked
  estimate           count the files and bytes marked
  done               restore what is marked and leave
  quit               leave without restoring`;

/** Runs the shell; resolves to the marked paths when the user says done, undefined on quit. */
export async function restoreShell(
  repo: Repository,
  snapshot: SnapshotInfo,
  input: NodeJS.ReadableStream,
  output: NodeJS.WritableStream,
): Promise<string[] | undefined> {
  const rl = createInterface({ input, output, terminal: (input as { isTTY?: boolean }).isTTY === true });
  const say = (text: string) => output.write(text + '\n');
  const marked = new Set<string>();
  let cwd = '/';
  const children = async (dir: string): Promise<TreeNode[]> => {
    const node = await findNode(repo, snapshot, dir);
    if (node.type !== 'dir' || node.subtree === undefined)
      throw new CairnError('USAGE', `${dir} is not a folder`);
    return [...(await repo.loadTree(node.subtree)).nodes];
  };
  const resolve = (arg: string) => path.posix.resolve(cwd, arg);
  const isMarked = (p: string) => [...marked].some((m) => p === m || p.startsWith(m === '/' ? '/' : `${m}/`));
  say(
    `snapshot ${snapshot.id.slice(0, 8)} of ${snapshot.paths.join(' ')} at ${snapshot.time}; type help for commands`,
  );
  // Lines are read through the iterator, which keeps lines that arrive before they are asked for
  // (piped input); question() would lose them.
  const lines = rl[Symbol.asyncIterator]();
  try {
    for (;;) {
      output.write(`${cwd} $ `);
      const next = await lines.next();
      if (next.done === true) {
        say('');
        return undefined; // input closed: like quit
      }
      const line = String(next.value).trim();
      const [cmd = '', ...args] = line.split(/\s+/).filter(Boolean);
      try {
        switch (cmd) {
          case '':
            break;
          case 'help':
          case '?':
            say(HELP);
            break;
          case 'pwd':
            say(cwd);
            break;
          case 'ls': {
            const dir = args[0] ? resolve(args[0]) : cwd;
            for (const n of await children(dir)) {
              const p = path.posix.join(dir, n.name);
              say(`${isMarked(p) ? '*' : ' '} ${n.name}${n.type === 'dir' ? '/' : ''}`);
            }
            break;
          }
          case 'cd': {
            const dir = resolve(args[0] ?? '/');
            await children(dir);
            cwd = dir;
            break;
          }
          case 'mark':
          case 'unmark': {
            if (args.length === 0) throw new CairnError('USAGE', `${cmd} needs a name or pattern`);
            const names = await children(cwd);
            let count = 0;
            for (const a of args) {
              const match = picomatch(a, { dot: true });
              for (const n of names) {
                if (!match(n.name)) continue;
                const p = path.posix.join(cwd, n.name);
                if (cmd === 'mark') marked.add(p);
                else {
                  marked.delete(p);
                  for (const m of [...marked]) if (m.startsWith(`${p}/`)) marked.delete(m);
                }
                count++;
              }
            }
            say(`${plural(count, 'entry', 'entries')} ${cmd}ed`);
            break;
          }
          case 'marked':
            for (const m of [...marked].sort()) say(m);
            say(`${plural(marked.size, 'path')} marked`);
            break;
          case 'estimate': {
            let files = 0;
            let bytes = 0;
            for (const m of marked) {
              for await (const v of walk(repo, await findNode(repo, snapshot, m), m)) {
                if (v.node.type === 'file') {
                  files++;
                  bytes += v.node.size;
                }
              }
            }
            say(`${plural(files, 'file')}, ${formatBytes(bytes)} marked`);
            break;
          }
          case 'done':
            if (marked.size === 0) {
              say('nothing is marked; mark something, or quit');
              break;
            }
            return [...marked];
          case 'quit':
          case 'exit':
            return undefined;
          default:
            say(`unknown command "${cmd}"; type help`);
        }
      } catch (err) {
        say(`error: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
  } finally {
    rl.close();
  }
}
