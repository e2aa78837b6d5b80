import { useState, type FormEvent } from 'react';
import { api } from '../api.ts';
import { count, dateTime } from '../format.ts';
import { Card, ErrorBox, Field, fieldError, PageTitle } from '../ui.tsx';

/** The restore point simulator (docs/simulator.md): storage a backup style and retention need. */

type Style = 'incremental' | 'reverse' | 'backup-copy' | 'replica' | 'cairn';

const STYLES: [Style, string][] = [
  ['cairn', 'Cairn: deduplicated snapshots'],
  ['incremental', 'Forward incremental'],
  ['reverse', 'Reverse incremental'],
  ['backup-copy', 'Backup copy with GFS'],
  ['replica', 'VM replica'],
];

interface SimFile {
  kind: string;
  name: string;
  pointDate: string;
  size: number;
  retention: string;
}

interface SimResult {
  points: number;
  runs: number;
  firstRun: string;
  lastRun: string;
  worstCase: { run: number; at: string };
  files: SimFile[];
  totals: {
    fullCount: number;
    fulls: number;
    incrementalCount: number;
    incrementals: number;
    total: number;
    workingSpace: number;
    grandTotal: number;
  };
  bandwidth: {
    changedBytes: number;
    transferBytes: number;
    windows: {
      hours: number;
      changedBytesPerSecond: number;
      transferBytesPerSecond: number;
      transferBitsPerSecond: number;
    }[];
  };
}

const GIB = 2 ** 30;

/** Binary units, as the simulator (and RPS) counts. */
function gib(n: number): string {
  if (n >= 1024 * GIB) return `${(n / 1024 / GIB).toFixed(2)} TiB`;
  if (n >= GIB) return `${(n / GIB).toFixed(1)} GiB`;
  return `${(n / 2 ** 20).toFixed(1)} MiB`;
}

function perSecond(n: number): string {
  if (n >= GIB) return `${(n / GIB).toFixed(2)} GiB/s`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(2)} MiB/s`;
  return `${(n / 1024).toFixed(0)} KiB/s`;
}

export function Simulator() {
  const [style, setStyle] = useState<Style>('cairn');
  const [used, setUsed] = useState('1000');
  const [points, setPoints] = useState('14');
  const [change, setChange] = useState('10');
  const [reduction, setReduction] = useState('50');
  const [interval, setIntervalHours] = useState('24');
  const [growth, setGrowth] = useState('0');
  const [gfs, setGfs] = useState({ weekly: '0', monthly: '0', quarterly: '0', yearly: '0' });
  const [result, setResult] = useState<SimResult>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const hasGfs = style === 'backup-copy' || style === 'cairn';
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    const body = {
      style,
      usedBytes: Math.round(Number(used) * GIB),
      points: /^\d+$/.test(points.trim()) ? Number(points) : points.trim(),
      changePercent: Number(change),
      reductionPercent: Number(reduction),
      intervalHours: Number(interval),
      growthPercent: Number(growth),
      ...(hasGfs
        ? {
            gfs: {
              weekly: Number(gfs.weekly),
              monthly: Number(gfs.monthly),
              quarterly: Number(gfs.quarterly),
              yearly: Number(gfs.yearly),
            },
          }
        : {}),
    };
    api<SimResult>('POST', 'simulations', body).then(
      (r) => {
        setResult(r);
        setBusy(false);
      },
      (err: unknown) => {
        setError(err);
        setBusy(false);
      },
    );
  };
  return (
    <>
      <PageTitle>Restore point simulator</PageTitle>
      <p className="muted">How much storage a backup style and its retention take, simulated run by run.</p>
      <div className="grid">
        <Card title="Input">
          <form onSubmit={submit}>
            <Field label="Backup style">
              {(id) => (
                <select id={id} value={style} onChange={(e) => setStyle(e.target.value as Style)}>
                  {STYLES.map(([v, l]) => (
                    <option key={v} value={v}>
                      {l}
                    </option>
                  ))}
                </select>
              )}
            </Field>
            <Field label="Used source size (GiB)" error={fieldError(error, 'usedBytes')}>
              {(id, d) => (
                <input
                  id={id}
                  aria-describedby={d}
                  type="number"
                  min={1}
                  value={used}
                  onChange={(e) => setUsed(e.target.value)}
                />
              )}
            </Field>
            <Field
              label="Restore points"
              hint="a count, or a period: 7d, 5w, 2.5m, 1q, 1y"
              error={fieldError(error, 'points')}
            >
              {(id, d) => (
                <input
                  id={id}
                  aria-describedby={d}
                  value={points}
                  onChange={(e) => setPoints(e.target.value)}
                />
              )}
            </Field>
            <Field label="Change per run (%)" error={fieldError(error, 'changePercent')}>
              {(id, d) => (
                <input
                  id={id}
                  aria-describedby={d}
                  type="number"
                  min={0}
                  max={100}
                  value={change}
                  onChange={(e) => setChange(e.target.value)}
                />
              )}
            </Field>
            <Field
              label="Left after reduction (%)"
              hint="100: no compression or deduplication"
              error={fieldError(error, 'reductionPercent')}
            >
              {(id, d) => (
                <input
                  id={id}
                  aria-describedby={d}
                  type="number"
                  min={1}
                  max={100}
                  value={reduction}
                  onChange={(e) => setReduction(e.target.value)}
                />
              )}
            </Field>
            <Field label="Hours between runs">
              {(id) => (
                <select id={id} value={interval} onChange={(e) => setIntervalHours(e.target.value)}>
                  {[1, 2, 3, 4, 6, 8, 12, 24].map((h) => (
                    <option key={h} value={h}>
                      {h === 24 ? 'daily (24 h)' : `${h} h`}
                    </option>
                  ))}
                </select>
              )}
            </Field>
            <Field label="Yearly growth (%)" error={fieldError(error, 'growthPercent')}>
              {(id, d) => (
                <input
                  id={id}
                  aria-describedby={d}
                  type="number"
                  min={0}
                  value={growth}
                  onChange={(e) => setGrowth(e.target.value)}
                />
              )}
            </Field>
            {hasGfs && (
              <fieldset className="keep-grid">
                <legend>GFS archives to keep</legend>
                {(['weekly', 'monthly', 'quarterly', 'yearly'] as const).map((k) => (
                  <Field key={k} label={k} error={fieldError(error, `gfs.${k}`)}>
                    {(id, d) => (
                      <input
                        id={id}
                        aria-describedby={d}
                        type="number"
                        min={0}
                        value={gfs[k]}
                        onChange={(e) => setGfs({ ...gfs, [k]: e.target.value })}
                      />
                    )}
                  </Field>
                ))}
              </fieldset>
            )}
            <ErrorBox error={error} title="Cannot simulate" />
            <button type="submit" className="primary" disabled={busy}>
              {busy ? 'Simulating…' : 'Simulate'}
            </button>
          </form>
        </Card>
        {result && (
          <Card title="Result" className="span-2">
            <p>
              {count(result.points, 'restore point')}, {count(result.runs, 'run')} from{' '}
              {dateTime(result.firstRun)} to {dateTime(result.lastRun)}. The most storage is needed after run{' '}
              {count(result.worstCase.run)} ({dateTime(result.worstCase.at)}):
            </p>
            <dl className="facts stats">
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
                  <strong>{gib(result.totals.grandTotal)}</strong>
                </dd>
              </div>
            </dl>
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
                  {result.files.map((f) => (
                    <tr key={f.name}>
                      <td>{f.retention}</td>
                      <td>
                        <code>{f.name}</code>
                      </td>
                      <td>{f.kind}</td>
                      <td>{dateTime(f.pointDate)}</td>
                      <td className="num">{gib(f.size)}</td>
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
            <table>
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
