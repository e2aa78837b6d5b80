/**
 * Charts drawn as inline SVG at the element's real pixel width (text stays sharp and unscaled):
 * a run's throughput over time, a repository's growth, the pipeline's stage shares, usage bars.
 */
import { useEffect, useRef, useState, type RefObject } from 'react';
import type { Sample, Stage } from './api.ts';
import { bytes, count, dateTime, duration, percent, rate } from './format.ts';

function useWidth(ref: RefObject<HTMLElement | null>, fallback = 600): number {
  const [width, setWidth] = useState(fallback);
  useEffect(() => {
    const el = ref.current;
    if (!el) return;
    setWidth(el.clientWidth || fallback);
    const ro = new ResizeObserver((entries) => {
      const w = entries[0]?.contentRect.width;
      if (w) setWidth(Math.floor(w));
    });
    ro.observe(el);
    return () => ro.disconnect();
  }, [ref, fallback]);
  return width;
}

/** 1, 2 or 5 times a power of ten: a step that gives about `count` ticks up to `max`. */
function niceStep(max: number, count: number): number {
  if (max <= 0) return 1;
  const raw = max / count;
  const p = 10 ** Math.floor(Math.log10(raw));
  const m = raw / p;
  return (m <= 1 ? 1 : m <= 2 ? 2 : m <= 5 ? 5 : 10) * p;
}

function timeStep(max: number): number {
  const steps = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400];
  return steps.find((s) => max / s <= 6) ?? 21600;
}

function axisTime(s: number): string {
  if (s === 0) return '0';
  if (s < 60) return `${s} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  return `${(s / 3600).toFixed(s % 3600 ? 1 : 0)} h`;
}

/**
 * The rate over a window ending at each sample, from the cumulative byte counter:
 * (bytes(t) − bytes(t − window)) / window. Short sampling intervals make single intervals spiky
 * (data arrives in bursts); a window of a second or more shows the speed a person perceives.
 */
export function smoothRates(samples: readonly Sample[], window: number): Sample[] {
  const out: Sample[] = [];
  let j = 0;
  for (let i = 0; i < samples.length; i++) {
    const s = samples[i]!;
    while (j < i && samples[j + 1]!.t <= s.t - window) j++;
    const from = samples[j]!;
    const dt = s.t - from.t;
    out.push({ ...s, rate: i === j || dt <= 0 ? s.rate : (s.bytes - from.bytes) / dt });
  }
  return out;
}

/** The window that smoothRates uses for a run of this length (seconds). */
export function rateWindow(seconds: number): number {
  return Math.max(1, seconds / 120);
}

export function ThroughputChart({ samples, height = 220 }: { samples: readonly Sample[]; height?: number }) {
  const ref = useRef<HTMLDivElement>(null);
  const width = useWidth(ref);
  const raw = samples.filter((s) => Number.isFinite(s.rate) && Number.isFinite(s.t));
  const span = rateWindow(raw.at(-1)?.t ?? 0);
  const pts = smoothRates(raw, span);
  const peak = pts.reduce((m, s) => Math.max(m, s.rate), 0);
  const last = pts.at(-1);
  // Counters start at zero when the run starts (t = 0).
  const avg = last && last.t > 0 ? last.bytes / last.t : 0;
  const label =
    pts.length < 2
      ? 'Throughput: not enough samples yet'
      : `Throughput over ${duration(last?.t)}: peak ${rate(peak)}, average ${rate(avg)} (each point averaged over ${duration(span)})`;
  const m = { top: 12, right: 16, bottom: 28, left: 64 };
  const w = Math.max(width, 200);
  const iw = w - m.left - m.right;
  const ih = height - m.top - m.bottom;
  const maxMB = Math.max(peak / 1e6, 0.1);
  const yStep = niceStep(maxMB, 4);
  const yMax = Math.ceil(maxMB / yStep) * yStep;
  const tMax = Math.max(last?.t ?? 0, 1);
  const xStep = timeStep(tMax);
  const x = (t: number) => m.left + (t / tMax) * iw;
  const y = (r: number) => m.top + ih - (r / 1e6 / yMax) * ih;
  const line = pts.map((s, i) => `${i ? 'L' : 'M'}${x(s.t).toFixed(1)},${y(s.rate).toFixed(1)}`).join('');
  const area = pts.length
    ? `${line}L${x(pts.at(-1)!.t).toFixed(1)},${y(0)}L${x(pts[0]!.t).toFixed(1)},${y(0)}Z`
    : '';
  const yTicks: number[] = [];
  for (let v = 0; v <= yMax + 1e-9; v += yStep) yTicks.push(v);
  const xTicks: number[] = [];
  for (let t = 0; t <= tMax + 1e-9; t += xStep) xTicks.push(t);
  const digits = yStep < 1 ? (yStep < 0.1 ? 2 : 1) : 0;
  return (
    <figure className="chart" ref={ref}>
      <svg width={w} height={height} role="img" aria-label={label}>
        {yTicks.map((v) => (
          <g key={`y${v}`}>
            <line className="grid" x1={m.left} x2={w - m.right} y1={y(v * 1e6)} y2={y(v * 1e6)} />
            <text className="tick" x={m.left - 8} y={y(v * 1e6)} dy="0.32em" textAnchor="end">
              {v.toFixed(digits)} MB/s
            </text>
          </g>
        ))}
        {xTicks.map((t) => (
          <text
            key={`x${t}`}
            className="tick"
            x={x(t)}
            y={height - 8}
            textAnchor={t === 0 ? 'start' : 'middle'}
          >
            {axisTime(t)}
          </text>
        ))}
        {pts.length >= 2 && (
          <>
            <path className="area" d={area} />
            <path className="line" d={line} />
          </>
        )}
        {pts.length < 2 && (
          <text className="tick" x={m.left + iw / 2} y={m.top + ih / 2} textAnchor="middle">
            waiting for samples…
          </text>
        )}
      </svg>
      <figcaption className="muted">{label}</figcaption>
    </figure>
  );
}

export function GrowthChart({
  growth,
  height = 140,
}: {
  growth: readonly { time: string; addedBytes: number }[];
  height?: number;
}) {
  const ref = useRef<HTMLDivElement>(null);
  const width = useWidth(ref, 300);
  const data = growth.slice(-60);
  const total = data.reduce((s, g) => s + g.addedBytes, 0);
  const label = data.length
    ? `Growth: ${bytes(total)} stored by the last ${count(data.length, 'restore point')} (after compression)`
    : 'Growth: no restore points yet';
  const m = { top: 8, right: 8, bottom: 22, left: 62 };
  const w = Math.max(width, 160);
  const iw = w - m.left - m.right;
  const ih = height - m.top - m.bottom;
  const max = Math.max(...data.map((g) => g.addedBytes), 1);
  const step = niceStep(max, 3);
  const yMax = Math.ceil(max / step) * step;
  const ticks: number[] = [];
  for (let v = 0; v <= yMax + 1e-9; v += step) ticks.push(v);
  // Slots for at least 12 bars, so that one restore point is a bar, not a block.
  const bw = iw / Math.max(data.length, 12);
  const y = (v: number) => m.top + ih - (v / yMax) * ih;
  return (
    <figure className="chart" ref={ref}>
      <svg width={w} height={height} role="img" aria-label={label}>
        {ticks.map((v) => (
          <g key={v}>
            <line className="grid" x1={m.left} x2={w - m.right} y1={y(v)} y2={y(v)} />
            <text className="tick" x={m.left - 6} y={y(v)} dy="0.32em" textAnchor="end">
              {bytes(v)}
            </text>
          </g>
        ))}
        {data.map((g, i) => (
          <rect
            key={`${g.time}${i}`}
            className="bar"
            x={m.left + i * bw + Math.min(2, bw * 0.15)}
            width={Math.max(1, bw - Math.min(4, bw * 0.3))}
            y={y(g.addedBytes)}
            height={Math.max(0, y(0) - y(g.addedBytes))}
          >
            <title>{`${dateTime(g.time)}: ${bytes(g.addedBytes)} added`}</title>
          </rect>
        ))}
        {data.length > 0 && (
          <>
            <text className="tick" x={m.left} y={height - 6} textAnchor="start">
              {dateTime(data[0]!.time)}
            </text>
            {data.length > 1 && (
              <text
                className="tick"
                x={Math.min(w - m.right, Math.max(m.left + data.length * bw, m.left + 220))}
                y={height - 6}
                textAnchor="end"
              >
                {dateTime(data.at(-1)!.time)}
              </text>
            )}
          </>
        )}
      </svg>
      <figcaption className="muted">{label}</figcaption>
    </figure>
  );
}

const STAGE_LABEL: Record<Stage, string> = {
  source: 'Source (reading files)',
  chunk: 'Chunking and hashing',
  seal: 'Compressing and encrypting',
  write: 'Writing to the repository',
};

export function StageBars({
  load,
  bottleneck,
}: {
  load: Partial<Record<Stage, number>> | undefined;
  bottleneck: Stage | undefined;
}) {
  if (!load) return <p className="muted">Stage shares are measured for backups once they finish.</p>;
  const stages = (Object.keys(STAGE_LABEL) as Stage[]).filter((s) => load[s] !== undefined);
  return (
    <div className="bars">
      {stages.map((s) => {
        const share = Math.max(0, Math.min(1, load[s] ?? 0));
        return (
          <div className={`bar-row${s === bottleneck ? ' bottleneck' : ''}`} key={s}>
            <span className="bar-label">
              {STAGE_LABEL[s]}
              {s === bottleneck && <span className="tag">bottleneck</span>}
            </span>
            <span
              className="bar-track"
              role="meter"
              aria-label={STAGE_LABEL[s]}
              aria-valuemin={0}
              aria-valuemax={100}
              aria-valuenow={Math.round(share * 100)}
              aria-valuetext={`${percent(share)} busy`}
            >
              <span className="bar-fill" style={{ width: `${share * 100}%` }} />
            </span>
            <span className="bar-value">{percent(share)}</span>
          </div>
        );
      })}
    </div>
  );
}

/** A tenant's usage against its quota: the bar turns to warning at 90 % and to danger when full. */
export function QuotaBar({ used, quota }: { used: number; quota: number }) {
  const share = quota > 0 ? used / quota : 1;
  const level = share >= 1 ? 'full' : share >= 0.9 ? 'high' : 'ok';
  return (
    <div className="usage">
      <div
        className={`usage-track quota-${level}`}
        role="meter"
        aria-label="Quota used"
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={Math.min(100, Math.round(share * 100))}
        aria-valuetext={`${bytes(used)} of ${bytes(quota)} (${percent(share)})`}
      >
        <span className="usage-own" style={{ width: `${Math.min(1, share) * 100}%` }} />
      </div>
      <p className="usage-legend">
        <span>
          {bytes(used)} of {bytes(quota)} used ({percent(share)})
        </span>
        <span>{bytes(Math.max(0, quota - used))} left</span>
      </p>
    </div>
  );
}

export function UsageBar({
  used,
  capacity,
  free,
  of = 'file-system',
}: {
  used: number;
  capacity: number | null | undefined;
  free: number | null | undefined;
  /** What the capacity is: the disk (the system administrator sees it) or the tenant's quota. */
  of?: 'file-system' | 'quota' | null;
}) {
  if (!capacity) return <p>{bytes(used)} stored</p>;
  const share = Math.min(1, (capacity - (free ?? 0)) / capacity);
  const own = Math.min(1, used / capacity);
  const what = of === 'quota' ? 'quota' : 'disk';
  const legend = `${percent(share)} of ${bytes(capacity)} ${what} used`;
  return (
    <div className="usage">
      <div
        className="usage-track"
        role="meter"
        aria-label={what === 'quota' ? 'Share of the quota' : 'Disk used'}
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={Math.round(share * 100)}
        aria-valuetext={`${percent(share)} of ${bytes(capacity)} used`}
      >
        <span className="usage-other" style={{ width: `${share * 100}%` }} />
        <span className="usage-own" style={{ width: `${own * 100}%` }} />
      </div>
      <p className="usage-legend">
        <span>
          <span className="swatch own" aria-hidden="true" /> {bytes(used)} this repository
        </span>
        <span>
          <span className="swatch other" aria-hidden="true" /> {legend}
        </span>
        <span>{bytes(free)} free</span>
      </p>
    </div>
  );
}
