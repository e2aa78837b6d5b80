import { useEffect, useRef, useState, type FormEvent } from 'react';
import {
  inputFromText,
  parseRpsQuery,
  defaultPoints,
  parseShareQuery,
  toShareQuery,
  type RpsImport,
  type SimulationInput,
  type SimulationResult,
  type Style,
  type TextKey,
} from '../simulate.ts';
import { api } from '../api.ts';
import { count, dateTime } from '../format.ts';
import { navigate, useLocation } from '../router.tsx';
import { ChainChart, filesCsv, gib, perSecond, saveBlob, svgToPng } from '../sim-chart.tsx';
import { Card, ErrorBox, Field, messageOf, Notice, PageTitle } from '../ui.tsx';

/**
 * The restore point simulator (docs/simulator.md): storage a backup style and retention need.
 * The page's state is its URL: Cairn's share string (`?style=cairn&points=14&start=…`), which
 * reproduces the run when opened, or an RPS share link's parameters (`?m=1&s=1000&r=14`), which
 * are converted and replaced by Cairn's share string.
 */

const STYLES: [Style, string][] = [
  ['cairn', 'Cairn: deduplicated snapshots'],
  ['incremental', 'Forward incremental'],
  ['reverse', 'Reverse incremental'],
  ['backup-copy', 'Backup copy with GFS'],
  ['replica', 'VM replica'],
];

const RPS_KEYS = new Set([
  'm',
  's',
  'r',
  'c',
  'd',
  'i',
  'sy',
  'iw',
  'im',
  'rw',
  'rm',
  'g',
  'gaf',
  'dg',
  'dgy',
  'dgr',
  're',
]);

/** The styles each option applies to (the engine refuses the others). */
const APPLIES: Partial<Record<TextKey, readonly Style[]>> = {
  'synthetic-full': ['incremental'],
  'active-full-weekly': ['incremental', 'reverse'],
  'active-full-monthly': ['incremental', 'reverse'],
  gfs: ['backup-copy', 'cairn'],
  'gfs-active-full': ['backup-copy'],
  'fast-clone': ['incremental', 'reverse', 'backup-copy'],
};

type Values = Partial<Record<TextKey, string>>;

/** RPS starts tomorrow at 22:00 by the reader's clock; the engine has none. */
function tomorrowStart(): string {
  const t = new Date(Date.now() + 24 * 3600 * 1000);
  return `${t.toISOString().slice(0, 10)}T22:00:00Z`;
}

function valuesOf(input: SimulationInput): Values {
  const out: Values = {};
  for (const [k, v] of new URLSearchParams(toShareQuery(input))) out[k as TextKey] = v;
  return out;
}

function isRpsQuery(params: URLSearchParams): boolean {
  return !params.has('style') && [...params.keys()].some((k) => RPS_KEYS.has(k));
}

const SHARE_PATH = '/simulator';

/** A share string as people read it: commas and colons need no escaping in a query. */
function readable(query: string): string {
  return query.replace(/%2C/gi, ',').replace(/%3A/gi, ':');
}

export function Simulator() {
  const { params } = useLocation();
  const search = params.toString();
  const [values, setValues] = useState<Values>({ style: 'cairn', start: tomorrowStart() });
  const [result, setResult] = useState<SimulationResult>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const [rps, setRps] = useState<{ link: string; ignored: RpsImport['ignored'] }>();
  const [copied, setCopied] = useState<string>();
  const ran = useRef<string | undefined>(undefined);
  const request = useRef(0);
  const chart = useRef<HTMLDivElement>(null);
  const style = (values.style ?? 'cairn') as Style;
  const applies = (key: TextKey) => APPLIES[key]?.includes(style) ?? true;

  // The URL is the page's state: reading it (on opening, reloading, back and forward) runs it.
  useEffect(() => {
    if (search === ran.current) return;
    ran.current = search;
    const p = new URLSearchParams(search);
    if (!search) {
      setResult(undefined);
      return;
    }
    let input: SimulationInput;
    try {
      if (isRpsQuery(p)) {
        const imported = parseRpsQuery(search, { defaultStart: tomorrowStart() });
        input = imported.input;
        setRps({ link: search, ignored: imported.ignored });
        // Cairn's share string fixes the start: the link now gives the same result tomorrow.
        const share = toShareQuery(input);
        ran.current = share;
        navigate(`${SHARE_PATH}?${readable(share)}`, { replace: true });
      } else {
        input = parseShareQuery(search, { defaultStart: tomorrowStart() });
      }
    } catch (err) {
      setError(err);
      setResult(undefined);
      return;
    }
    setValues(valuesOf(input));
    run(input);
  }, [search]);

  function run(input: SimulationInput) {
    const n = ++request.current;
    setBusy(true);
    setError(undefined);
    api<SimulationResult>('POST', 'simulations', input).then(
      (r) => {
        if (n !== request.current) return;
        setResult(r);
        setBusy(false);
      },
      (err: unknown) => {
        if (n !== request.current) return;
        setError(err);
        setBusy(false);
      },
    );
  }

  const submit = (e: FormEvent) => {
    e.preventDefault();
    const text: Values = {};
    for (const [k, v] of Object.entries(values) as [TextKey, string | undefined][]) {
      if (v !== undefined && v.trim() !== '' && applies(k)) text[k] = v.trim();
    }
    let input: SimulationInput;
    try {
      input = inputFromText(text, { defaultStart: tomorrowStart() });
    } catch (err) {
      setError(err);
      return;
    }
    setRps(undefined);
    setCopied(undefined);
    const share = toShareQuery(input);
    if (share === search) run(input);
    else navigate(`${SHARE_PATH}?${readable(share)}`);
  };

  const set = (key: TextKey) => (v: string) => setValues((old) => ({ ...old, [key]: v }));
  const errorFor = (key: TextKey): string | undefined => {
    const m = messageOf(error ?? '');
    return error && (m.startsWith(`${key}:`) || m.startsWith(`${key} (`)) ? m : undefined;
  };
  const text = (key: TextKey, label: string, hint?: string, placeholder?: string) =>
    applies(key) && (
      <Field label={label} hint={hint} error={errorFor(key)}>
        {(id, d) => (
          <input
            id={id}
            aria-describedby={d}
            value={values[key] ?? ''}
            placeholder={placeholder}
            onChange={(e) => set(key)(e.target.value)}
          />
        )}
      </Field>
    );
  const flag = (key: TextKey, label: string) =>
    applies(key) && (
      <label className="check-line">
        <input
          type="checkbox"
          checked={values[key] === '1'}
          onChange={(e) => set(key)(e.target.checked ? '1' : '')}
        />
        {label}
      </label>
    );

  const shareUrl = search ? `${window.location.origin}${SHARE_PATH}?${readable(search)}` : undefined;
  const copy = () => {
    if (!shareUrl) return;
    // navigator.clipboard is missing on pages served over plain HTTP (not a secure context).
    const clipboard = window.isSecureContext ? navigator.clipboard : undefined;
    if (!clipboard) {
      setCopied('Copy the link from the field above.');
      return;
    }
    clipboard.writeText(shareUrl).then(
      () => setCopied('The link is on the clipboard.'),
      () => setCopied('Copy the link from the field above.'),
    );
  };
  const stem = result ? `cairn-simulation-${result.input.style}` : 'cairn-simulation';
  const downloadPng = async () => {
    const svg = chart.current?.querySelector('svg');
    if (!svg) return;
    try {
      saveBlob(await svgToPng(svg), `${stem}.png`);
    } catch (err) {
      setError(err);
    }
  };

  return (
    <>
      <PageTitle>Restore point simulator</PageTitle>
      <p className="muted">How much storage a backup style and its retention take, simulated run by run.</p>
      <div className="grid">
        <Card title="Input">
          <form onSubmit={submit} noValidate>
            <Field label="Backup style" error={errorFor('style')}>
              {(id) => (
                <select id={id} value={style} onChange={(e) => set('style')(e.target.value)}>
                  {STYLES.map(([v, l]) => (
                    <option key={v} value={v}>
                      {l}
                    </option>
                  ))}
                </select>
              )}
            </Field>
            {text('used', 'Used source size', 'GiB and TiB binary, GB and TB decimal', '1000GiB')}
            {text(
              'points',
              'Restore points',
              'a count, or a period: 7d, 5w, 2.5m, 1q, 1y',
              String(defaultPoints(style)),
            )}
            {text('change', 'Change per run (%)', undefined, '10')}
            {text('reduction', 'Left after reduction (%)', '100: no compression or deduplication', '50')}
            {text('interval', 'Interval', 'daily, or 1h, 2h, 3h, 4h, 6h, 8h, 12h', 'daily')}
            {text('synthetic-full', 'Synthetic full days', 'e.g. sat or mon,thu', 'none')}
            {text('active-full-weekly', 'Weekly active full days', 'e.g. sat', 'none')}
            {text('active-full-monthly', 'Monthly active full', 'e.g. first-sat or last-sun:jan,jul', 'none')}
            {text('gfs', 'GFS archives to keep', 'weekly, monthly, quarterly, yearly: 4w,12m,0q,1y', 'none')}
            {flag('gfs-active-full', 'Active full for GFS (v9)')}
            {flag('fast-clone', 'Fast clone (XFS reflink, ReFS block cloning)')}
            {text('growth', 'Yearly growth (%)', undefined, '0')}
            {text('years', 'Years to simulate', '0: until the retention has settled', '0')}
            {text('start', 'First run (UTC)', 'e.g. 2024-01-01T22:00:00Z')}
            <ErrorBox error={error} title="Cannot simulate" />
            <button type="submit" className="primary" disabled={busy}>
              {busy ? 'Simulating…' : 'Simulate'}
            </button>
          </form>
        </Card>
        {result && (
          <Card
            title="Result"
            className="span-2"
            actions={
              <>
                <button type="button" className="small" onClick={() => void downloadPng()}>
                  Download PNG
                </button>
                <button
                  type="button"
                  className="small"
                  onClick={() =>
                    saveBlob(new Blob([filesCsv(result)], { type: 'text/csv;charset=utf-8' }), `${stem}.csv`)
                  }
                >
                  Download CSV
                </button>
                <button
                  type="button"
                  className="small"
                  onClick={() =>
                    saveBlob(
                      new Blob([`${JSON.stringify(result, null, 2)}\n`], { type: 'application/json' }),
                      `${stem}.json`,
                    )
                  }
                >
                  Download JSON
                </button>
              </>
            }
          >
            {rps && (
              <Notice>
                Imported from an RPS link (<code>?{rps.link}</code>).
                {rps.ignored.length === 0 ? (
                  ' Every parameter was carried over.'
                ) : (
                  <>
                    {' '}
                    Ignored RPS parameters:
                    <ul className="rps-ignored">
                      {rps.ignored.map((g) => (
                        <li key={g.param}>
                          <code>{g.param}</code>: {g.reason}
                        </li>
                      ))}
                    </ul>
                  </>
                )}
              </Notice>
            )}
            {shareUrl && (
              <div className="field">
                <label htmlFor="sim-share">Share link</label>
                <div className="inline-form">
                  <input id="sim-share" readOnly value={shareUrl} onFocus={(e) => e.target.select()} />
                  <button type="button" onClick={copy}>
                    Copy link
                  </button>
                </div>
                {copied && <div className="hint">{copied}</div>}
              </div>
            )}
            <p>
              {count(result.points, 'restore point')}, {count(result.runs, 'run')} from{' '}
              {dateTime(result.firstRun)} to {dateTime(result.lastRun)}. The most storage is needed after run{' '}
              {count(result.worstCase.run)} ({dateTime(result.worstCase.at)}):
            </p>
            <dl className="facts stats" aria-label="Totals">
              <div>
                <dt>Fulls ({count(result.totals.fullCount)})</dt>
                <dd>{gib(result.totals.fulls)}</dd>
              </div>
              <div>
                <dt>Incrementals ({count(result.totals.incrementalCount)})</dt>
                <dd>{gib(result.totals.incrementals)}</dd>
              </div>
              <div>
                <dt>Total</dt>
                <dd>{gib(result.totals.total)}</dd>
              </div>
              <div>
                <dt>Working space</dt>
                <dd>{gib(result.totals.workingSpace)}</dd>
              </div>
              <div>
                <dt>Grand total</dt>
                <dd>
                  <strong data-testid="grand-total">{gib(result.totals.grandTotal)}</strong>
                </dd>
              </div>
            </dl>
            <h3>The chain at the worst case</h3>
            <div className="sim-chart" ref={chart} style={{ overflowX: 'auto' }}>
              <ChainChart result={result} />
            </div>
            <h3>Files at the worst case</h3>
            <div className="scroll-box">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Retention</th>
                    <th scope="col">File</th>
                    <th scope="col">Kind</th>
                    <th scope="col">Point</th>
                    <th scope="col" className="num">
                      Size
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {result.files.map((f, i) => (
                    <tr key={`${f.name}-${i}`}>
                      <td>{f.retention}</td>
                      <td>
                        <code>{f.name}</code>
                      </td>
                      <td>{f.kind}</td>
                      <td>{dateTime(f.pointDate)}</td>
                      <td className="num">
                        {gib(f.size)}
                        {f.fileSize > f.size && <span className="muted"> of {gib(f.fileSize)}</span>}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
            <h3>Bandwidth to copy one run’s change</h3>
            <p className="muted">
              {gib(result.bandwidth.changedBytes)} changed, {gib(result.bandwidth.transferBytes)} after
              reduction.
            </p>
            <table aria-label="Bandwidth">
              <thead>
                <tr>
                  <th scope="col">Within</th>
                  <th scope="col" className="num">
                    Changed data
                  </th>
                  <th scope="col" className="num">
                    After reduction
                  </th>
                  <th scope="col" className="num">
                    On the wire
                  </th>
                </tr>
              </thead>
              <tbody>
                {result.bandwidth.windows.map((w) => (
                  <tr key={w.hours}>
                    <td>{w.hours} h</td>
                    <td className="num">{perSecond(w.changedBytesPerSecond)}</td>
                    <td className="num">{perSecond(w.transferBytesPerSecond)}</td>
                    <td className="num">{(w.transferBitsPerSecond / 1e6).toFixed(1)} Mbit/s</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </Card>
        )}
      </div>
    </>
  );
}
