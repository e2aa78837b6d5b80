/** How the CLI talks: human lines on stdout, progress on stderr when it is a terminal, JSON with --json. */

export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
  let v = n;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)} ${units[i]}`;
}

export function formatDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (ms < 10000) return `${(ms / 1000).toFixed(2)}s`;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  return h > 0
    ? `${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}`
    : `${m}:${String(sec).padStart(2, '0')}`;
}

export interface Output {
  readonly json: boolean;
  readonly quiet: boolean;
  /** A human line (suppressed by --json and --quiet). */
  line(text: string): void;
  /** A JSON value on one line (only with --json). */
  emit(value: unknown): void;
  /** A warning: stderr for humans, a JSON line with --json. */
  warn(text: string, extra?: Record<string, unknown>): void;
  /** Starts a progress line redrawn on stderr while `render` returns text; stops with the returned function. */
  progress(render: (elapsedMs: number) => string): () => void;
}

export function makeOutput(options: { json?: boolean; quiet?: boolean }): Output {
  const json = options.json === true;
  const quiet = options.quiet === true;
  const tty = process.stderr.isTTY;
  let clear = () => undefined as void;
  return {
    json,
    quiet,
    line(text) {
      if (!json && !quiet) {
        clear();
        process.stdout.write(text + '\n');
      }
    },
    emit(value) {
      if (json) process.stdout.write(JSON.stringify(value) + '\n');
    },
    warn(text, extra) {
      clear();
      if (json)
        process.stdout.write(JSON.stringify({ message_type: 'warning', message: text, ...extra }) + '\n');
      else process.stderr.write(`warning: ${text}\n`);
    },
    progress(render) {
      if (!tty || json || quiet) return () => undefined;
      const start = Date.now();
      let shown = false;
      const draw = () => {
        const width = process.stderr.columns || 80;
        const text = render(Date.now() - start).slice(0, width - 1);
        process.stderr.write(`\r\x1b[2K${text}`);
        shown = true;
      };
      clear = () => {
        if (shown) process.stderr.write('\r\x1b[2K');
        shown = false;
      };
      const timer = setInterval(draw, 250);
      timer.unref();
      return () => {
        clearInterval(timer);
        clear();
        clear = () => undefined;
      };
    },
  };
}

/** What a finished command leaves for the entry point to turn into an exit code. */
export const outcome = { warnings: 0 };

/** "1 file", "2 files". */
export { plural } from '../words.ts';

/** `fooBar` → `foo_bar`: restic's field names in JSON. */
const snakeKey = (k: string) => k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/** camelCase keys to snake_case at every depth (objects in arrays too); values stay as they are. */
export function snakeCaseDeep(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(snakeCaseDeep);
  if (value === null || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [snakeKey(k), snakeCaseDeep(v)]));
}

/** camelCase keys to snake_case, one level deep, for JSON that follows restic's field names. */
export function snakeCase(obj: object): Record<string, unknown> {
  return Object.fromEntries(Object.entries(obj).map(([k, v]) => [snakeKey(k), v]));
}
