/** Numbers as people read them: always with a unit, decimal (SI) byte units as disks are sold. */

const UNITS = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];

export function bytes(n: number | null | undefined): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  let v = Math.abs(n);
  let u = 0;
  while (v >= 1000 && u < UNITS.length - 1) {
    v /= 1000;
    u++;
  }
  const digits = u === 0 || v >= 100 ? 0 : v >= 10 ? 1 : 2;
  return `${n < 0 ? '−' : ''}${v.toFixed(digits)} ${UNITS[u]}`;
}

/** Bytes per second as MB/s (kB/s below 0.1 MB/s, GB/s from 1000 MB/s). */
export function rate(bytesPerSecond: number | null | undefined): string {
  if (bytesPerSecond === null || bytesPerSecond === undefined || !Number.isFinite(bytesPerSecond)) return '–';
  const mb = bytesPerSecond / 1e6;
  if (mb >= 1000) return `${(mb / 1000).toFixed(2)} GB/s`;
  if (mb < 0.1 && bytesPerSecond > 0) return `${(bytesPerSecond / 1e3).toFixed(1)} kB/s`;
  return `${mb.toFixed(mb >= 100 ? 0 : 1)} MB/s`;
}

export function count(n: number | null | undefined, unit?: string, plural?: string): string {
  if (n === null || n === undefined || !Number.isFinite(n)) return '–';
  const s = Math.round(n).toLocaleString('en-US');
  if (!unit) return s;
  return `${s} ${n === 1 ? unit : (plural ?? `${unit}s`)}`;
}

export function files(n: number | null | undefined): string {
  return count(n, 'file');
}

export function percent(share: number | null | undefined): string {
  if (share === null || share === undefined || !Number.isFinite(share)) return '–';
  return `${Math.round(share * 100)} %`;
}

export function duration(seconds: number | null | undefined): string {
  if (seconds === null || seconds === undefined || !Number.isFinite(seconds) || seconds < 0) return '–';
  if (seconds < 10) return `${seconds.toFixed(1)} s`;
  if (seconds < 60) return `${Math.round(seconds)} s`;
  const s = Math.round(seconds);
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const r = s % 60;
  if (h >= 24) return `${Math.floor(h / 24)} d ${h % 24} h`;
  if (h > 0) return `${h} h ${String(m).padStart(2, '0')} min`;
  return `${m} min ${String(r).padStart(2, '0')} s`;
}

export function secondsBetween(from: string | null, to: string | null): number | undefined {
  if (!from) return undefined;
  const end = to ? Date.parse(to) : Date.now();
  return Math.max(0, (end - Date.parse(from)) / 1000);
}

const pad = (n: number) => String(n).padStart(2, '0');

/** Local date and time, e.g. "2025-03-04 14:05". */
export function dateTime(iso: string | null | undefined): string {
  if (!iso) return '–';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

export function dateTimeSeconds(iso: string | null | undefined): string {
  if (!iso) return '–';
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  return `${dateTime(iso)}:${pad(d.getSeconds())}`;
}

export function time(iso: string): string {
  const d = new Date(iso);
  return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** "in 3 h 05 min", "5 min ago", "just now". */
export function relative(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return '';
  const diff = (Date.parse(iso) - now) / 1000;
  if (Math.abs(diff) < 30) return 'just now';
  const d = duration(Math.abs(diff)).replace(/ \d+ s$/, '');
  return diff > 0 ? `in ${d}` : `${d} ago`;
}

const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

/** A run time as people say it: "today 02:00", "tomorrow 02:00", "Friday 7 Mar 02:00". */
export function friendlyTime(iso: string, now = new Date()): string {
  const d = new Date(iso);
  const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}`;
  const day = (x: Date) => new Date(x.getFullYear(), x.getMonth(), x.getDate()).getTime();
  const days = Math.round((day(d) - day(now)) / 86_400_000);
  if (days === 0) return `today ${hm}`;
  if (days === 1) return `tomorrow ${hm}`;
  if (days === -1) return `yesterday ${hm}`;
  const month = d.toLocaleString('en-GB', { month: 'short' });
  return `${DAYS[d.getDay()]} ${d.getDate()} ${month}${d.getFullYear() !== now.getFullYear() ? ` ${d.getFullYear()}` : ''} ${hm}`;
}

export function shortId(id: string | null | undefined): string {
  return id ? id.slice(0, 8) : '–';
}

/** A plain-language reading of common cron expressions; undefined when there is no simple one. */
export function describeCron(cron: string): string | undefined {
  const f = cron.trim().split(/\s+/);
  if (f.length === 6) f.shift(); // seconds field
  if (f.length !== 5) return undefined;
  const [min, hour, dom, mon, dow] = f as [string, string, string, string, string];
  const num = (s: string) => /^\d+$/.test(s);
  if (mon !== '*') return undefined;
  if (num(min) && hour === '*' && dom === '*' && dow === '*') return `every hour at minute ${min}`;
  const step = /^\*\/(\d+)$/.exec(min);
  if (step && hour === '*' && dom === '*' && dow === '*') return `every ${step[1]} minutes`;
  const hstep = /^\*\/(\d+)$/.exec(hour);
  if (num(min) && hstep && dom === '*' && dow === '*') return `every ${hstep[1]} hours at minute ${min}`;
  if (!num(min) || !/^\d+(,\d+)*$/.test(hour)) return undefined;
  const at = hour
    .split(',')
    .map((h) => `${pad(Number(h))}:${pad(Number(min))}`)
    .join(' and ');
  if (dom === '*' && dow === '*') return `every day at ${at}`;
  if (dom === '*' && /^[0-7](,[0-7])*$/.test(dow))
    return `every ${dow
      .split(',')
      .map((d) => DAYS[Number(d) % 7])
      .join(', ')} at ${at}`;
  if (dom === '*' && dow === '1-5') return `Monday to Friday at ${at}`;
  if (num(dom) && dow === '*') return `on day ${dom} of every month at ${at}`;
  return undefined;
}
