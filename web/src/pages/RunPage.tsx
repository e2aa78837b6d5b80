import { useCallback, useEffect, useRef, useState } from 'react';
import {
  API,
  api,
  get,
  hasLink,
  query,
  type LogEntry,
  type ProgressEvent,
  type Run,
  type RunStats,
  type Sample,
} from '../api.ts';
import { rateWindow, smoothRates, StageBars, ThroughputChart } from '../charts.tsx';
import {
  bytes,
  count,
  dateTimeSeconds,
  duration,
  files,
  rate,
  secondsBetween,
  shortId,
  time,
} from '../format.ts';
import { Link } from '../router.tsx';
import { Card, ErrorBox, Loading, Notice, PageTitle, StateBadge } from '../ui.tsx';

const ACTIVE = new Set(['queued', 'running']);

type Feed = 'connecting' | 'live' | 'polling' | 'ended';

/**
 * A run, followed live: the server pushes `run`, `progress` and `log` events (SSE) until the run
 * ends; if the stream cannot be held, the page polls instead.
 */
function useLiveRun(id: string) {
  const [run, setRun] = useState<Run>();
  const [progress, setProgress] = useState<ProgressEvent>();
  const [log, setLog] = useState<LogEntry[]>([]);
  const [logTotal, setLogTotal] = useState(0);
  const [error, setError] = useState<unknown>();
  const [feed, setFeed] = useState<Feed>('connecting');
  const lastSeq = useRef(0);
  const logBusy = useRef<Promise<void> | undefined>(undefined);

  const fetchLog = useCallback(() => {
    // One request at a time; each asks only for entries after the last one seen.
    const next = (logBusy.current ?? Promise.resolve()).then(() =>
      get<{ data: LogEntry[]; total: number }>(
        `runs/${id}/log${query({ after: lastSeq.current, limit: 1000 })}`,
      ).then(
        (r) => {
          if (r.data.length) {
            lastSeq.current = r.data.at(-1)?.seq ?? lastSeq.current;
            setLog((old) => [...old, ...r.data].slice(-2000));
          }
          setLogTotal(r.total);
        },
        (err: unknown) => setError(err),
      ),
    );
    logBusy.current = next;
  }, [id]);

  useEffect(() => {
    let closed = false;
    let es: EventSource | undefined;
    let poll: ReturnType<typeof setInterval> | undefined;
    let logTimer: ReturnType<typeof setTimeout> | undefined;
    const pokeLog = () => {
      if (logTimer) return;
      logTimer = setTimeout(() => {
        logTimer = undefined;
        fetchLog();
      }, 250);
    };
    const ended = (r: Run) => {
      if (ACTIVE.has(r.state)) return false;
      es?.close();
      if (poll) clearInterval(poll);
      setFeed('ended');
      setProgress(undefined);
      // The final statistics and the whole log, once more from the source.
      void get<Run>(`runs/${id}`).then(
        (x) => !closed && setRun(x),
        () => undefined,
      );
      fetchLog();
      return true;
    };
    const startPolling = () => {
      setFeed('polling');
      poll = setInterval(() => {
        get<Run>(`runs/${id}`).then(
          (r) => {
            if (closed) return;
            setRun(r);
            fetchLog();
            ended(r);
          },
          (err: unknown) => setError(err),
        );
      }, 2000);
    };
    get<Run>(`runs/${id}`).then(
      (r) => {
        if (closed) return;
        setRun(r);
        fetchLog();
        if (!ACTIVE.has(r.state)) {
          setFeed('ended');
          return;
        }
        if (typeof EventSource === 'undefined') return startPolling();
        es = new EventSource(`${API}/runs/${encodeURIComponent(id)}/events`);
        es.addEventListener('open', () => setFeed('live'));
        es.addEventListener('run', (e) => {
          const x = JSON.parse((e as MessageEvent<string>).data) as Run;
          setRun(x);
          ended(x);
        });
        es.addEventListener('progress', (e) => {
          setProgress(JSON.parse((e as MessageEvent<string>).data) as ProgressEvent);
          setFeed('live');
        });
        es.addEventListener('log', pokeLog);
        es.addEventListener('error', () => {
          // CLOSED: the browser gave up (the session ended or the server refused): poll instead.
          if (es?.readyState === EventSource.CLOSED && !closed) {
            es.close();
            startPolling();
          }
        });
      },
      (err: unknown) => setError(err),
    );
    return () => {
      closed = true;
      es?.close();
      if (poll) clearInterval(poll);
      if (logTimer) clearTimeout(logTimer);
    };
  }, [id, fetchLog]);

  return { run, progress, log, logTotal, error, feed, setRun };
}

export function RunPage({ id }: { id: string }) {
  const { run, progress, log, logTotal, error, feed, setRun } = useLiveRun(id);
  const [actionError, setActionError] = useState<unknown>();
  const [canceling, setCanceling] = useState(false);
  const active = run ? ACTIVE.has(run.state) : false;
  const stats = run?.stats ?? null;
  const samples: Sample[] = progress?.samples ?? stats?.throughput ?? [];
  // The speed "now": over the last seconds of the counter, not one (bursty) sampling interval.
  const recent = progress?.samples?.length
    ? smoothRates(progress.samples, Math.max(2, rateWindow(progress.elapsedSeconds))).at(-1)?.rate
    : undefined;
  const p = progress
    ? {
        phase: progress.phase,
        files: progress.files,
        bytes: progress.bytes,
        rate: recent ?? progress.rate,
        elapsed: progress.elapsedSeconds,
        currentFile: progress.currentFile,
      }
    : run?.progress
      ? {
          phase: run.progress.phase,
          files: run.progress.files,
          bytes: run.progress.bytes,
          rate: run.progress.bytesPerSecond,
          elapsed: run.progress.elapsedSeconds,
          currentFile: run.progress.currentFile,
        }
      : undefined;
  const title = run
    ? `${run.kind === 'restore' ? 'Restore' : 'Backup'} ${run.job.name ?? ''} · run ${shortId(run.id)}`
    : `Run ${shortId(id)}`;
  return (
    <>
      <PageTitle
        actions={
          run && (
            <>
              {hasLink(run, 'cancel') && active && (
                <button
                  type="button"
                  className="danger"
                  disabled={canceling}
                  onClick={() => {
                    setCanceling(true);
                    setActionError(undefined);
                    api<Run>('POST', `runs/${run.id}/cancel`).then(
                      (r) => setRun(r),
                      (err: unknown) => {
                        setActionError(err);
                        setCanceling(false);
                      },
                    );
                  }}
                >
                  {canceling ? 'Canceling…' : 'Cancel'}
                </button>
              )}
              {run.job.id && (
                <Link className="button" to={`/jobs/${run.job.id}`}>
                  Job {run.job.name}
                </Link>
              )}
              {run.snapshotId && run.kind === 'backup' && run.repository && (
                <Link
                  className="button"
                  to={`/restore${query({ repository: run.repository.id, snapshot: run.snapshotId })}`}
                >
                  Browse the restore point
                </Link>
              )}
            </>
          )
        }
      >
        {title}
      </PageTitle>
      <ErrorBox error={error ?? actionError} />
      {!run && !error && <Loading />}
      {run && (
        <div className="grid run-grid">
          <Card title="State" className="run-state">
            <p className="state-line">
              <StateBadge state={run.state} />
              {active && (
                <span className={`feed feed-${feed}`} aria-live="polite">
                  {feed === 'live'
                    ? 'live'
                    : feed === 'polling'
                      ? 'updating every 2 s'
                      : feed === 'connecting'
                        ? 'connecting…'
                        : ''}
                </span>
              )}
            </p>
            {run.message && (
              <p className={run.state === 'failed' ? 'message error-text' : 'message'}>{run.message}</p>
            )}
            <dl className="facts compact">
              <dt>Trigger</dt>
              <dd>
                {run.trigger}
                {run.attempt > 1 ? `, attempt ${run.attempt}` : ''}
              </dd>
              {stats?.level && (
                <>
                  <dt>Level</dt>
                  <dd>{stats.level}</dd>
                </>
              )}
              <dt>Queued</dt>
              <dd>{dateTimeSeconds(run.queuedAt)}</dd>
              <dt>Started</dt>
              <dd>{dateTimeSeconds(run.startedAt)}</dd>
              <dt>Ended</dt>
              <dd>{run.endedAt ? dateTimeSeconds(run.endedAt) : '–'}</dd>
              <dt>Duration</dt>
              <dd>
                {duration(
                  stats?.durationSeconds ??
                    (active ? p?.elapsed : secondsBetween(run.startedAt, run.endedAt)),
                )}
              </dd>
            </dl>
          </Card>
          {active && (
            <Card title="Progress" className="span-2 progress-card">
              {!p && (
                <p className="muted">{run.state === 'queued' ? 'Waiting for a free slot…' : 'Starting…'}</p>
              )}
              {p && (
                <>
                  <ul className="metrics" aria-label="Live progress">
                    <li>
                      <span className="metric-value">{p.phase}</span>
                      <span className="metric-label">phase</span>
                    </li>
                    <li>
                      <span className="metric-value">{files(p.files)}</span>
                      <span className="metric-label">processed</span>
                    </li>
                    <li>
                      <span className="metric-value">{bytes(p.bytes)}</span>
                      <span className="metric-label">{run.kind === 'restore' ? 'written' : 'read'}</span>
                    </li>
                    <li>
                      <span className="metric-value">{rate(p.rate)}</span>
                      <span className="metric-label">now</span>
                    </li>
                    <li>
                      <span className="metric-value">{duration(p.elapsed)}</span>
                      <span className="metric-label">elapsed</span>
                    </li>
                  </ul>
                  {p.currentFile && (
                    <p className="current-file" title={p.currentFile}>
                      <span className="muted">Current file: </span>
                      <code>{p.currentFile}</code>
                    </p>
                  )}
                </>
              )}
            </Card>
          )}
          {!active && <Statistics run={run} stats={stats} />}
          <Card title="Throughput" className="span-2">
            {samples.length > 0 || active ? (
              <ThroughputChart samples={samples} />
            ) : (
              <p className="muted">No throughput was recorded for this run.</p>
            )}
          </Card>
          <Card title="Pipeline load">
            {run.kind === 'backup' ? (
              <>
                <StageBars load={stats?.load} bottleneck={stats?.bottleneck} />
                {stats?.bottleneck && (
                  <p className="muted">
                    The busiest stage limits the speed; a faster {stageHint(stats.bottleneck)} would help
                    most.
                  </p>
                )}
              </>
            ) : (
              <p className="muted">Measured for backups.</p>
            )}
          </Card>
          <Card title={`Log (${count(logTotal, 'entry', 'entries')})`} className="span-3">
            <LogView log={log} follow={active} />
          </Card>
        </div>
      )}
      {run && run.state === 'success' && run.kind === 'restore' && (
        <Notice kind="success">The restore finished.</Notice>
      )}
    </>
  );
}

function stageHint(s: string): string {
  switch (s) {
    case 'source':
      return 'source disk (or fewer, larger files)';
    case 'chunk':
      return 'CPU for chunking and hashing';
    case 'seal':
      return 'CPU for compression and encryption (or a lighter compression level)';
    case 'write':
      return 'repository disk';
    default:
      return s;
  }
}

function Statistics({ run, stats }: { run: Run; stats: RunStats | null }) {
  if (!stats)
    return (
      <Card title="Statistics" className="span-2">
        <p className="muted">No statistics: the run ended before it read anything.</p>
      </Card>
    );
  const d = stats.durationSeconds;
  const rows: [string, string][] =
    run.kind === 'backup'
      ? [
          ['Files processed', files(stats.filesProcessed)],
          [
            'New / changed / unchanged',
            `${count(stats.filesNew)} / ${count(stats.filesChanged)} / ${count(stats.filesUnmodified)} files`,
          ],
          ['New folders', count(stats.dirsNew, 'folder')],
          ['Read', bytes(stats.bytesProcessed)],
          ['Added (new data)', bytes(stats.bytesAdded)],
          ['Stored (compressed, encrypted)', bytes(stats.bytesStored)],
          ['Duration', duration(d)],
          ['Average speed', d && stats.bytesProcessed !== undefined ? rate(stats.bytesProcessed / d) : '–'],
          ['Warnings', count(stats.warnings ?? 0, 'warning')],
        ]
      : [
          ['Files restored', files(stats.files)],
          ['Folders', count(stats.dirs, 'folder')],
          ['Written', bytes(stats.bytes)],
          ['Duration', duration(d)],
          ['Average speed', d && stats.bytes !== undefined ? rate(stats.bytes / d) : '–'],
          ['Warnings', count(stats.warnings ?? 0, 'warning')],
        ];
  if (stats.forgotten?.length)
    rows.push(['Forgotten by retention', count(stats.forgotten.length, 'restore point')]);
  return (
    <Card title="Statistics" className="span-2">
      <dl className="facts stats">
        {rows.map(([k, v]) => (
          <div key={k}>
            <dt>{k}</dt>
            <dd>{v}</dd>
          </div>
        ))}
        {run.snapshotId && (
          <div>
            <dt>Restore point</dt>
            <dd>
              <code>{shortId(run.snapshotId)}</code>
            </dd>
          </div>
        )}
      </dl>
    </Card>
  );
}

function LogView({ log, follow }: { log: LogEntry[]; follow: boolean }) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = box.current;
    if (el && follow) el.scrollTop = el.scrollHeight;
  }, [log, follow]);
  if (log.length === 0) return <p className="muted">Nothing logged yet.</p>;
  return (
    <div className="log" ref={box} role="log" aria-label="Run log" tabIndex={0}>
      <table>
        <tbody>
          {log.map((l, i) => (
            <tr key={l.seq ?? `x${i}`} className={`level-${l.level}`}>
              <td className="log-time">{time(l.at)}</td>
              <td className="log-level">{l.level}</td>
              <td className="log-msg">{l.message}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}
