import { Fragment, useEffect, useState } from 'react';
import { api, hasLink, query, type Job, type Page, type Run, type Schedule } from '../api.ts';
import { bytes, dateTime, duration, files, friendlyTime, relative, secondsBetween } from '../format.ts';
import { Link, navigate } from '../router.tsx';
import { Card, Empty, ErrorBox, Loading, Notice, PageTitle, StateBadge, useApi } from '../ui.tsx';
import { scheduleText, startJob } from './Jobs.tsx';

/** The next run times of a schedule, asked from the server (which knows cron and time zones). */
export function useNextRuns(
  schedule: Schedule | null | undefined,
  n = 5,
): { runs?: string[]; error?: unknown } {
  const [out, setOut] = useState<{ runs?: string[]; error?: unknown }>({});
  const key = schedule ? JSON.stringify(schedule) : '';
  useEffect(() => {
    if (!key) {
      setOut({});
      return;
    }
    let live = true;
    const t = setTimeout(() => {
      api<{ nextRuns: string[] }>('POST', 'schedules/preview', {
        schedule: JSON.parse(key) as Schedule,
        count: n,
      }).then(
        (r) => live && setOut({ runs: r.nextRuns }),
        (error: unknown) => live && setOut({ error }),
      );
    }, 300);
    return () => {
      live = false;
      clearTimeout(t);
    };
  }, [key, n]);
  return out;
}

const ACTIVE = new Set(['queued', 'running']);

export function JobPage({ id }: { id: string }) {
  const job = useApi<Job>(`jobs/${id}`, 5000);
  const runs = useApi<Page<Run>>(`runs${query({ job: id, limit: 15 })}`, 5000);
  const next = useNextRuns(job.data?.schedule);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const [notice, setNotice] = useState<string>();
  const j = job.data;
  const act = (what: () => Promise<unknown>, done?: string) => {
    setBusy(true);
    setError(undefined);
    setNotice(undefined);
    what().then(
      () => {
        setBusy(false);
        if (done) setNotice(done);
        job.reload();
        runs.reload();
      },
      (err: unknown) => {
        setBusy(false);
        setError(err);
      },
    );
  };
  const active = j?.lastRun && ACTIVE.has(j.lastRun.state);
  return (
    <>
      <PageTitle
        actions={
          j && (
            <>
              {hasLink(j, 'start') && (
                <button
                  type="button"
                  className="primary"
                  disabled={busy}
                  onClick={() => act(() => startJob(j))}
                >
                  Start now
                </button>
              )}
              {hasLink(j, 'start') && (j.level ?? 'incremental') !== 'full' && (
                <button type="button" disabled={busy} onClick={() => act(() => startJob(j, 'full'))}>
                  Start a full backup
                </button>
              )}
              {hasLink(j, 'cancel') && active && (
                <button
                  type="button"
                  className="danger"
                  disabled={busy}
                  onClick={() => act(() => api('POST', `jobs/${j.id}/cancel`), 'Cancel requested.')}
                >
                  Cancel the run
                </button>
              )}
              <Link className="button" to={`/restore${query({ repository: j.repository.id, job: j.name })}`}>
                Restore points
              </Link>
              {hasLink(j, 'edit') && (
                <Link className="button" to={`/jobs/${j.id}/edit`}>
                  Edit
                </Link>
              )}
              {hasLink(j, 'delete') && (
                <button
                  type="button"
                  className="danger ghost"
                  disabled={busy}
                  onClick={() => {
                    if (!window.confirm(`Delete job ${j.name}? Its restore points stay in the repository.`))
                      return;
                    act(async () => {
                      await api('DELETE', `jobs/${j.id}`);
                      navigate('/jobs');
                    });
                  }}
                >
                  Delete
                </button>
              )}
            </>
          )
        }
      >
        Job {j?.name ?? ''}
      </PageTitle>
      <ErrorBox error={error ?? job.error} />
      {notice && <Notice kind="success">{notice}</Notice>}
      {!j && !job.error && <Loading />}
      {j && (
        <div className="grid">
          <Card title="Definition" className="span-2">
            <dl className="facts">
              <dt>Repository</dt>
              <dd>{j.repository.name ?? j.repository.id}</dd>
              <dt>Sources</dt>
              <dd>
                <ul className="plain">
                  {j.sources.map((s) => (
                    <li key={s}>
                      <code>{s}</code>
                    </li>
                  ))}
                </ul>
              </dd>
              <dt>Level</dt>
              <dd>{j.level ?? 'incremental'}</dd>
              {j.optionPlugins && j.optionPlugins.length > 0 && (
                <>
                  <dt>Option plugins</dt>
                  <dd>
                    {j.optionPlugins.map((o) => (
                      <code key={o} className="chip">
                        {o}
                      </code>
                    ))}
                  </dd>
                </>
              )}
              {j.exclude && j.exclude.length > 0 && (
                <>
                  <dt>Excluded</dt>
                  <dd>
                    {j.exclude.map((e) => (
                      <code key={e} className="chip">
                        {e}
                      </code>
                    ))}
                  </dd>
                </>
              )}
              <dt>Options</dt>
              <dd>
                {[
                  j.excludeCaches && 'skips cache folders (CACHEDIR.TAG)',
                  j.oneFileSystem && 'stays on one file system',
                  !j.enabled && 'disabled',
                ]
                  .filter(Boolean)
                  .join('; ') || <span className="muted">none</span>}
              </dd>
              {j.tags && j.tags.length > 0 && (
                <>
                  <dt>Tags</dt>
                  <dd>{j.tags.join(', ')}</dd>
                </>
              )}
              <dt>Retention</dt>
              <dd>{retentionText(j)}</dd>
              <dt>Retries</dt>
              <dd>
                {j.limits?.retries
                  ? `${j.limits.retries} after ${duration(j.limits.retryDelaySeconds ?? 300)}, doubling`
                  : 'none'}
                {j.limits?.timeoutSeconds ? `; stopped after ${duration(j.limits.timeoutSeconds)}` : ''}
              </dd>
              {(['runBefore', 'runAfter'] as const).map(
                (k) =>
                  j[k] &&
                  j[k].length > 0 && (
                    <Fragment key={k}>
                      <dt>{k === 'runBefore' ? 'Run before' : 'Run after'}</dt>
                      <dd>
                        {j[k].map((sc, i) => (
                          <div key={i}>
                            {sc.script ? (
                              <>
                                script <code>{sc.script}</code>
                              </>
                            ) : (
                              <code>
                                {typeof sc.command === 'string' ? sc.command : (sc.command ?? []).join(' ')}
                              </code>
                            )}{' '}
                            <span className="muted">
                              (on error: {sc.onError ?? (k === 'runBefore' ? 'fail' : 'warn')})
                            </span>
                          </div>
                        ))}
                      </dd>
                    </Fragment>
                  ),
              )}
              {j.hooks && j.hooks.length > 0 && (
                <>
                  <dt>Hooks</dt>
                  <dd>
                    {j.hooks.map((h, i) => (
                      <div key={i}>
                        on {h.on.join(', ')}: {h.script ? 'script ' : ''}
                        <code>{h.script ?? (h.command ? h.command.join(' ') : (h.webhook ?? ''))}</code>
                      </div>
                    ))}
                  </dd>
                </>
              )}
            </dl>
          </Card>
          <Card title="Schedule">
            <p>{scheduleText(j)}</p>
            {j.schedule && (
              <p className="muted">
                cron <code>{j.schedule.cron}</code>
                {j.schedule.missed === 'skip' ? ', missed times skipped' : ', a missed time runs once'}
              </p>
            )}
            <ErrorBox error={next.error} />
            {next.runs && (
              <>
                <h3>Next runs</h3>
                <ol className="plain next-list">
                  {next.runs.map((r) => (
                    <li key={r}>
                      {friendlyTime(r)} <span className="muted">({relative(r)})</span>
                    </li>
                  ))}
                </ol>
              </>
            )}
          </Card>
          <Card title="Recent runs" className="span-3">
            <RunTable runs={runs.data?.data} error={runs.error} />
          </Card>
        </div>
      )}
    </>
  );
}

export function retentionText(j: Pick<Job, 'retention'>): string {
  const r = j.retention;
  if (!r) return 'keeps every restore point';
  const parts = [
    r.keepLast && `last ${r.keepLast}`,
    r.keepHourly && `${r.keepHourly} hourly`,
    r.keepDaily && `${r.keepDaily} daily`,
    r.keepWeekly && `${r.keepWeekly} weekly`,
    r.keepMonthly && `${r.keepMonthly} monthly`,
    r.keepYearly && `${r.keepYearly} yearly`,
    r.keepWithin && `all within ${r.keepWithin}`,
  ].filter(Boolean);
  if (!parts.length) return 'keeps every restore point';
  return `keeps ${parts.join(', ')}${r.prune ? '; frees space at once (prune)' : ''}`;
}

export function RunTable({
  runs,
  error,
  showJob,
}: {
  runs: Run[] | undefined;
  error?: unknown;
  showJob?: boolean;
}) {
  if (error) return <ErrorBox error={error} />;
  if (!runs) return <Loading />;
  if (runs.length === 0) return <Empty>No runs.</Empty>;
  return (
    <table>
      <thead>
        <tr>
          <th scope="col">Run</th>
          {showJob && <th scope="col">Job</th>}
          <th scope="col">Kind</th>
          <th scope="col">State</th>
          <th scope="col">Trigger</th>
          <th scope="col">Started</th>
          <th scope="col" className="num">
            Duration
          </th>
          <th scope="col" className="num">
            Files
          </th>
          <th scope="col" className="num">
            Read
          </th>
          <th scope="col" className="num">
            Added
          </th>
        </tr>
      </thead>
      <tbody>
        {runs.map((r) => {
          const s = r.stats;
          return (
            <tr key={r.id}>
              <td>
                <Link
                  to={`/runs/${r.id}`}
                  aria-label={`Run ${r.id.slice(0, 8)}${r.job.name ? ` of ${r.job.name}` : ''}`}
                >
                  <code>{r.id.slice(0, 8)}</code>
                </Link>
              </td>
              {showJob && (
                <td>{r.job.id ? <Link to={`/jobs/${r.job.id}`}>{r.job.name}</Link> : (r.job.name ?? '–')}</td>
              )}
              <td>{r.kind}</td>
              <td>
                <StateBadge state={r.state} />
              </td>
              <td>
                {r.trigger}
                {r.attempt > 1 ? ` (attempt ${r.attempt})` : ''}
              </td>
              <td>{dateTime(r.startedAt ?? r.queuedAt)}</td>
              <td className="num">
                {duration(s?.durationSeconds ?? secondsBetween(r.startedAt, r.endedAt))}
              </td>
              <td className="num">{files(s?.filesProcessed ?? s?.files ?? r.progress?.files)}</td>
              <td className="num">{bytes(s?.bytesProcessed ?? s?.bytes ?? r.progress?.bytes)}</td>
              <td className="num">{r.kind === 'backup' ? bytes(s?.bytesAdded) : '–'}</td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
