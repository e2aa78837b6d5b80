/**
 * The simulator page's picture of the chain at the worst-case moment (one bar per file, height
 * proportional to its size on disk) and its downloads (PNG, CSV, JSON). The SVG carries its own
 * colours and fonts, without the page's CSS, so that it renders the same as a PNG.
 */
import type { SimulatedFile, SimulationResult } from './simulate.ts';

const GIB = 2 ** 30;

/** Binary units, as the simulator (and RPS) counts. */
export function gib(n: number): string {
  if (n >= 1024 * GIB) return `${(n / 1024 / GIB).toFixed(2)} TiB`;
  if (n >= GIB) return `${(n / GIB).toFixed(1)} GiB`;
  return `${(n / 2 ** 20).toFixed(1)} MiB`;
}

export function perSecond(n: number): string {
  if (n >= GIB) return `${(n / GIB).toFixed(2)} GiB/s`;
  if (n >= 2 ** 20) return `${(n / 2 ** 20).toFixed(2)} MiB/s`;
  return `${(n / 1024).toFixed(0)} KiB/s`;
}

export type Category = 'full' | 'incremental' | 'gfs' | 'snapshot';

export const CATEGORY: Record<Category, { label: string; colour: string }> = {
  full: { label: 'Full', colour: '#1f5fcc' },
  incremental: { label: 'Incremental', colour: '#e08a00' },
  gfs: { label: 'GFS archive', colour: '#7443c9' },
  snapshot: { label: 'Cairn snapshot (new data)', colour: '#1a7f37' },
};
const SHARED = { label: 'Shared by fast clone', colour: '#c9d3df' };

export function categoryOf(f: SimulatedFile): Category {
  if (f.kind === 'gfs-full' || f.kind === 'gfs-linked-full') return 'gfs';
  if (f.kind === 'snapshot') return 'snapshot';
  return f.full ? 'full' : 'incremental';
}

const TEXT = '#1b2430';
const MUTED = '#56616d';
const FONT = 'DejaVu Sans, Arial, Helvetica, sans-serif';

/** The files at the worst case as an SVG bar chart with a legend. */
export function ChainChart({ result, id }: { result: SimulationResult; id?: string }) {
  const files = result.files;
  const n = Math.max(files.length, 1);
  const bar = n > 60 ? 10 : n > 30 ? 16 : Math.min(40, Math.floor((632 / n) * 0.8));
  const gap = Math.max(2, Math.round(bar / 4));
  const left = 64;
  const top = 150;
  const plot = 220;
  const bottom = 70;
  const width = Math.max(720, left + n * (bar + gap) + 24);
  const height = top + plot + bottom;
  const max = Math.max(1, ...files.map((f) => Math.max(f.size, f.fileSize)));
  const y = (bytes: number) => (bytes / max) * plot;
  const ticks = [0, 0.25, 0.5, 0.75, 1].map((t) => t * max);
  const used = new Set(files.map(categoryOf));
  const legend = [
    ...(Object.keys(CATEGORY) as Category[]).filter((c) => used.has(c)).map((c) => CATEGORY[c]),
    ...(files.some((f) => f.fileSize > f.size) ? [SHARED] : []),
  ];
  return (
    <svg
      id={id}
      xmlns="http://www.w3.org/2000/svg"
      width={width}
      height={height}
      viewBox={`0 0 ${width} ${height}`}
      role="img"
      aria-label={`The ${files.length} files at the worst case, ${gib(result.totals.total)} in all`}
      fontFamily={FONT}
    >
      <rect x={0} y={0} width={width} height={height} fill="#ffffff" />
      <text x={left} y={22} fontSize={14} fontWeight="bold" fill={TEXT}>
        {`${result.input.style}: ${files.length} files, ${gib(result.totals.total)} stored`}
      </text>
      <text x={left} y={40} fontSize={11} fill={MUTED}>
        {`+ ${gib(result.totals.workingSpace)} working space = ${gib(result.totals.grandTotal)}, the worst case: after run ${
          result.worstCase.run
        } (${result.worstCase.at.slice(0, 16).replace('T', ' ')} UTC)`}
      </text>
      {legend.map((l, i) => (
        <g key={l.label} transform={`translate(${left + i * 170}, 56)`}>
          <rect width={12} height={12} fill={l.colour} />
          <text x={18} y={10} fontSize={11} fill={TEXT}>
            {l.label}
          </text>
        </g>
      ))}
      {ticks.map((t) => (
        <g key={t}>
          <line
            x1={left - 4}
            x2={width - 16}
            y1={top + plot - y(t)}
            y2={top + plot - y(t)}
            stroke="#e3e8ed"
          />
          <text x={left - 8} y={top + plot - y(t) + 4} fontSize={10} fill={MUTED} textAnchor="end">
            {t === 0 ? '0' : gib(t)}
          </text>
        </g>
      ))}
      {files.map((f, i) => {
        const x = left + gap + i * (bar + gap);
        const own = y(f.size);
        const shared = y(Math.max(0, f.fileSize - f.size));
        const c = CATEGORY[categoryOf(f)];
        return (
          <g key={`${f.name}-${i}`}>
            <title>{`${f.name} (${f.kind}), point ${f.pointDate.slice(0, 16).replace('T', ' ')}: ${gib(f.size)}${
              f.fileSize > f.size ? ` on disk of ${gib(f.fileSize)}` : ''
            }, retention ${f.retention}`}</title>
            {shared > 0 && (
              <rect x={x} y={top + plot - own - shared} width={bar} height={shared} fill={SHARED.colour} />
            )}
            <rect x={x} y={top + plot - own} width={bar} height={Math.max(own, 0.5)} fill={c.colour} />
            <text
              fontSize={10}
              fill={TEXT}
              transform={`translate(${x + bar / 2 + 3}, ${top + plot - own - shared - 4}) rotate(-90)`}
            >
              {gib(f.size)}
            </text>
            <text
              fontSize={10}
              fill={MUTED}
              transform={`translate(${x + bar / 2 + 3}, ${top + plot + 8}) rotate(-90)`}
              textAnchor="end"
            >
              {f.retention}
            </text>
          </g>
        );
      })}
      <line x1={left} x2={width - 16} y1={top + plot} y2={top + plot} stroke={MUTED} />
    </svg>
  );
}

/** Saves a blob under a file name, through an `a[download]`. */
export function saveBlob(blob: Blob, name: string): void {
  const url = URL.createObjectURL(blob);
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

/** Renders an SVG element to a PNG (twice its size, for sharp pictures). */
export async function svgToPng(svg: SVGSVGElement, scale = 2): Promise<Blob> {
  const width = Number(svg.getAttribute('width'));
  const height = Number(svg.getAttribute('height'));
  const text = new XMLSerializer().serializeToString(svg);
  const url = URL.createObjectURL(new Blob([text], { type: 'image/svg+xml;charset=utf-8' }));
  try {
    const img = new Image();
    await new Promise<void>((resolve, reject) => {
      img.onload = () => resolve();
      img.onerror = () => reject(new Error('the picture could not be drawn'));
      img.src = url;
    });
    const canvas = document.createElement('canvas');
    canvas.width = Math.round(width * scale);
    canvas.height = Math.round(height * scale);
    const ctx = canvas.getContext('2d');
    if (!ctx) throw new Error('no canvas to draw on');
    ctx.fillStyle = '#ffffff';
    ctx.fillRect(0, 0, canvas.width, canvas.height);
    ctx.drawImage(img, 0, 0, canvas.width, canvas.height);
    return await new Promise<Blob>((resolve, reject) =>
      canvas.toBlob((b) => (b ? resolve(b) : reject(new Error('the PNG could not be made'))), 'image/png'),
    );
  } finally {
    URL.revokeObjectURL(url);
  }
}

function csvCell(v: string | number | null): string {
  const s = v === null ? '' : String(v);
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** The files table as CSV, sizes in bytes. */
export function filesCsv(result: SimulationResult): string {
  const head = [
    'retention',
    'name',
    'kind',
    'code',
    'pointDate',
    'modifyDate',
    'sizeBytes',
    'fileSizeBytes',
    'sourceBytes',
    'changedBytes',
    'transferBytes',
    'linkedTo',
  ];
  const rows = result.files.map((f) =>
    [
      f.retention,
      f.name,
      f.kind,
      f.code,
      f.pointDate,
      f.modifyDate,
      f.size,
      f.fileSize,
      f.sourceBytes,
      f.changedBytes,
      f.transferBytes,
      f.linkedTo,
    ]
      .map(csvCell)
      .join(','),
  );
  return `${[head.join(','), ...rows].join('\r\n')}\r\n`;
}
