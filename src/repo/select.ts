/**
 * Selection: which paths a backup leaves out.
 *
 * Patterns follow restic's habits:
 * - a pattern without a slash (`*.log`, `node_modules`) matches a file or folder of that name at
 *   any depth;
 * - a pattern with a slash is matched against the absolute path; one that does not start with
 *   `/` may match at any depth (`cache/tmp` matches `/home/a/cache/tmp`);
 * - `*` and `?` stay within one path component, `**` spans any number of them, `[abc]` and
 *   `{a,b}` work as in a shell; `*` matches names starting with a dot too;
 * - a folder that matches is left out with everything in it.
 * `--iexclude` patterns ignore case. Markers (`--exclude-if-present NAME[:HEADER]`,
 * `--exclude-caches`) leave out a folder's contents but keep the folder and the marker file, so
 * the restore shows why it is empty.
 */
import { promises as fs, type Dirent } from 'node:fs';
import path from 'node:path';
import picomatch from 'picomatch';
import { CairnError, reason } from '../errors.ts';

/** The signature a CACHEDIR.TAG file starts with (https://bford.info/cachedir/). */
export const CACHEDIR_SIGNATURE = 'Signature: 8a477f597d28d172789f06886806bc55';

export interface SelectionOptions {
  readonly excludes?: readonly string[];
  /** Like excludes, ignoring case. */
  readonly iexcludes?: readonly string[];
  /** `NAME` or `NAME:HEADER`: folders holding such a file (starting with HEADER) keep only it. */
  readonly excludeIfPresent?: readonly string[];
  /** Shorthand for `CACHEDIR.TAG:` + the cache directory signature. */
  readonly excludeCaches?: boolean;
  /** Do not descend into folders on another file system than the backed-up path's. */
  readonly oneFileSystem?: boolean;
}

interface Marker {
  readonly name: string;
  readonly header: string | undefined;
}

function compile(pattern: string, nocase: boolean): (p: string) => boolean {
  const trimmed = pattern.length > 1 ? pattern.replace(/\/+$/, '') : pattern;
  if (trimmed.length === 0) {
    throw new CairnError('USAGE', 'Cannot use an empty exclude pattern');
  }
  const glob = trimmed.includes('/')
    ? trimmed.startsWith('/')
      ? trimmed
      : `**/${trimmed}`
    : `**/${trimmed}`;
  try {
    return picomatch(glob, { dot: true, nocase });
  } catch (err) {
    throw new CairnError('USAGE', `Cannot use the exclude pattern "${pattern}": ${reason(err)}`, {
      cause: err,
    });
  }
}

/** The characters that make a pattern a glob rather than a fixed path. */
const GLOB = /[*?[\]{}!()]/;

/**
 * Why a pattern may not do what its user meant, or undefined: an unclosed `[` or `{` (it then
 * matches those characters literally), or an absolute pattern outside every path of `roots` (it
 * can never match there). Said as warnings: the command still runs.
 */
export function patternProblem(pattern: string, roots: readonly string[] = []): string | undefined {
  const unescaped = pattern.replace(/\\./g, '');
  for (const [open, close] of [
    ['[', ']'],
    ['{', '}'],
  ] as const) {
    let depth = 0;
    for (const ch of unescaped) {
      if (ch === open) depth++;
      else if (ch === close && depth > 0) depth--;
    }
    if (depth > 0)
      return `has an unclosed "${open}": it matches a literal "${open}" (write \\${open} if that is meant, or close it with "${close}")`;
  }
  if (pattern.startsWith('/') && roots.length > 0) {
    // The fixed part before the first glob character: a path the pattern can only match under.
    const cut = pattern.search(GLOB);
    const fixed =
      (cut < 0 ? pattern : pattern.slice(0, pattern.lastIndexOf('/', cut) + 1)).replace(/\/+$/, '') || '/';
    const related = roots.some((r) => {
      const root = r === '/' ? '/' : r.replace(/\/+$/, '');
      return (
        fixed === root ||
        fixed.startsWith(root === '/' ? '/' : `${root}/`) ||
        root.startsWith(fixed === '/' ? '/' : `${fixed}/`)
      );
    });
    if (!related) return `can never match: it lies outside every path here (${roots.join(', ')})`;
  }
  return undefined;
}

/** A matcher for include patterns (the same pattern rules); matches if any pattern does. */
export function includeMatcher(patterns: readonly string[]): (p: string) => boolean {
  const ms = patterns.map((p) => compile(p, false));
  return (p) => ms.some((m) => m(p));
}

export class Selection {
  readonly oneFileSystem: boolean;
  private readonly matchers: ((p: string) => boolean)[];
  private readonly markers: Marker[];

  constructor(options: SelectionOptions = {}) {
    this.matchers = [
      ...(options.excludes ?? []).map((p) => compile(p, false)),
      ...(options.iexcludes ?? []).map((p) => compile(p, true)),
    ];
    this.markers = (options.excludeIfPresent ?? []).map((spec) => {
      const i = spec.indexOf(':');
      const name = i < 0 ? spec : spec.slice(0, i);
      if (name.length === 0 || name.includes('/')) {
        throw new CairnError(
          'USAGE',
          `Cannot use --exclude-if-present "${spec}": give a file name, optionally NAME:HEADER`,
        );
      }
      return { name, header: i < 0 ? undefined : spec.slice(i + 1) };
    });
    if (options.excludeCaches) this.markers.push({ name: 'CACHEDIR.TAG', header: CACHEDIR_SIGNATURE });
    this.oneFileSystem = options.oneFileSystem === true;
  }

  /** Whether nothing is ever left out (the walk can skip every check). */
  get empty(): boolean {
    return this.matchers.length === 0 && this.markers.length === 0 && !this.oneFileSystem;
  }

  /** Whether the path (absolute) matches an exclude pattern. */
  excluded(absolute: string): boolean {
    for (const m of this.matchers) if (m(absolute)) return true;
    return false;
  }

  /**
   * For a folder about to be walked with these entry names: the name of the marker file it
   * holds, if it holds one (then only that file is kept), else undefined.
   */
  async marker(dir: string, names: readonly string[]): Promise<string | undefined> {
    for (const m of this.markers) {
      if (!names.includes(m.name)) continue;
      if (m.header === undefined) return m.name;
      try {
        const fh = await fs.open(path.join(dir, m.name), 'r');
        try {
          const want = Buffer.from(m.header);
          const buf = Buffer.alloc(want.length);
          const { bytesRead } = await fh.read(buf, 0, want.length, 0);
          if (bytesRead === want.length && buf.equals(want)) return m.name;
        } finally {
          await fh.close();
        }
      } catch {
        // An unreadable marker marks nothing; the file itself is backed up (or warned about).
      }
    }
    return undefined;
  }
}

/** Patterns from a file: one per line; blank lines and lines starting with # are skipped. */
export function parsePatternFile(text: string): string[] {
  return text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.length > 0 && !l.startsWith('#'));
}

export interface Totals {
  files: number;
  bytes: number;
  /** True once the whole tree was counted. */
  done: boolean;
}

/**
 * Counts the files and bytes a backup of `paths` will see, with the same selection, so progress
 * can show a percentage and an estimate of the time left (restic's scanner). Runs beside the
 * backup and updates `totals` as it goes; errors only make the estimate smaller.
 */
export async function countTotals(
  paths: readonly string[],
  selection: Selection,
  totals: Totals,
  signal?: AbortSignal,
): Promise<void> {
  const visit = async (p: string, known?: Dirent): Promise<void> => {
    if (signal?.aborted || selection.excluded(p)) return;
    if (known !== undefined && !known.isFile() && !known.isDirectory()) return;
    if (known === undefined || known.isFile()) {
      let st;
      try {
        st = await fs.lstat(p);
      } catch {
        return;
      }
      if (st.isFile()) {
        totals.files++;
        totals.bytes += st.size;
        return;
      }
      if (!st.isDirectory()) return;
    }
    let entries: Dirent[];
    try {
      entries = await fs.readdir(p, { withFileTypes: true });
    } catch {
      return;
    }
    const marker = await selection.marker(
      p,
      entries.map((e) => e.name),
    );
    const chosen = marker === undefined ? entries : entries.filter((e) => e.name === marker);
    // Sizes of a folder's files are asked for together; folders are walked one after another.
    await Promise.all(chosen.filter((e) => !e.isDirectory()).map((e) => visit(path.join(p, e.name), e)));
    for (const e of chosen) if (e.isDirectory()) await visit(path.join(p, e.name), e);
  };
  for (const p of paths) await visit(p);
  totals.done = true;
}
