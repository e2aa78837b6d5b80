import { useMemo } from 'react';
import {
  query,
  RUN_STATES,
  type Dashboard as DashboardData,
  type Page,
  type Repository,
  type Run,
  type TenantUsage,
  type Usage,
} from '../api.ts';
import { GrowthChart, QuotaBar, UsageBar } from '../charts.tsx';
import {
  bytes,
  count,
  dateTime,
  duration,
  files,
  friendlyTime,
  rate,
  relative,
  secondsBetween,
} from '../format.ts';
import { Link } from '../router.tsx';
import { Card, Empty, ErrorBox, Loading, PageTitle, StateBadge, useApi } from '../ui.tsx';

const REFRESH_MS = 10_000;

export function Dashboard() {
  const dash = useApi<DashboardData>('dashboard', REFRESH_MS);
  const since = useMemo(() => new Date(Date.now() - 24 * 3600 * 1000).toISOString(), []);
  const failed = useApi<Page<Run>>(`runs${query({ state: 'failed', since, limit: 8 })}`, REFRESH_MS);
  const running = useApi<Page<Run>>(`runs${query({ state: 'running', limit: 8 })}`, 3000);
  const repos = useApi<Page<Repository>>('repositories', 60_000);
  const storage = useApi<TenantUsage>('usage', 60_000);
  const counts = dash.data?.runs ?? {};
  const total = RUN_STATES.reduce((s, st) => s + (counts[st] ?? 0), 0);
  const overdue = dash.data?.overdue ?? [];
  return (
    <>
      <PageTitle>Dashboard</PageTitle>
      <div className="grid dashboard">
        {overdue.length > 0 && (
          <Card title="Overdue jobs" className="span-3 overdue">
            <p className="muted">
              No successful run within their expected interval: twice their schedule came due since the last
              success, and the grace has passed.
            </p>
            <ul className="run-list" aria-label="Overdue jobs">
              {overdue.map((o) => (
                <li key={o.job.id}>
                  <span className="badge state-failed">overdue</span>{' '}
                  <Link to={`/jobs/${o.job.id}`}>{o.job.name}</Link>
                  <div className="message">
                    {o.lastSuccess
                      ? `Last successful run ended ${dateTime(o.lastSuccess)} (${relative(o.lastSuccess)})`
                      : 'No successful run yet'}
                    ; missed its time of {dateTime(o.dueAt)}.
                  </div>
                </li>
              ))}
            </ul>
          </Card>
        )}
        <Card title="Last 24 hours" className="span-2">
          <ErrorBox error={dash.error} />
          {!dash.data && !dash.error && <Loading />}
          {dash.data && (
            <>
              <ul className="state-tiles" aria-label="Runs of the last 24 hours by state">
                {RUN_STATES.map((st) => (
                  <li key={st} className={`tile state-${st}${(counts[st] ?? 0) === 0 ? ' zero' : ''}`}>
                    <Link to={`/runs${query({ state: st, since: dash.data?.since.slice(0, 10) })}`}>
                      <span className="tile-count">{count(counts[st] ?? 0)}</span>
                      <span className="tile-label">{st}</span>
                    </Link>
                  </li>
                ))}
              </ul>
              <p className="muted">
                {count(total, 'run')} since {dateTime(dash.data.since)}.
              </p>
            </>
          )}
        </Card>
        <Card title="Storage">
          <ErrorBox error={storage.error} title="Usage unavailable" />
          {!storage.data && !storage.error && <Loading what="usage" />}
          {storage.data && storage.data.quotaBytes !== null && (
            <QuotaBar used={storage.data.usageBytes} quota={storage.data.quotaBytes} />
          )}
          {storage.data && storage.data.quotaBytes === null && (
            <p>
              {bytes(storage.data.usageBytes)} stored <span className="muted">(no quota)</span>
            </p>
          )}
          {storage.data && (
            <p className="muted">
              Tenant {storage.data.tenant.name},{' '}
              {count(storage.data.repositories.length, 'repository', 'repositories')}
              {storage.data.measuredAt ? `, measured ${relative(storage.data.measuredAt)}` : ''}.
            </p>
          )}
        </Card>
        <Card title="Verification">
          <p>
            <span className="badge">not configured</span>
          </p>
          <p className="muted">
            Cairn does not yet verify repositories on a schedule. Check one by hand with{' '}
            <code>cairn check</code>; restores can read every file back with <code>verify</code>.
          </p>
        </Card>
        <Card title="Recent failures" className="span-2">
          <ErrorBox error={failed.error} />
          {!failed.data && !failed.error && <Loading />}
          {failed.data && failed.data.data.length === 0 && (
            <Empty>No failed runs in the last 24 hours.</Empty>
          )}
          {failed.data && failed.data.data.length > 0 && (
            <ul className="run-list">
              {failed.data.data.map((r) => (
                <li key={r.id}>
                  <StateBadge state={r.state} />{' '}
                  <Link to={`/runs/${r.id}`}>
                    {r.job.name ?? r.kind} · {dateTime(r.endedAt ?? r.queuedAt)}
                  </Link>
                  {r.message && <div className="message">{r.message}</div>}
                </li>
              ))}
            </ul>
          )}
        </Card>
        <Card title="Next scheduled runs">
          {dash.data && dash.data.nextRuns.length === 0 && <Empty>No job has a schedule.</Empty>}
          {dash.data && dash.data.nextRuns.length > 0 && (
            <ul className="next-runs">
              {dash.data.nextRuns.map((n) => (
                <li key={n.job.id}>
                  <Link to={`/jobs/${n.job.id}`}>{n.job.name}</Link>
                  <span>
                    {friendlyTime(n.at)} <span className="muted">({relative(n.at)})</span>
                  </span>
                </li>
              ))}
            </ul>
          )}
        </Card>
        {running.data && running.data.data.length > 0 && (
          <Card title="Running now" className="span-3">
            <table>
              <thead>
                <tr>
                  <th scope="col">Job</th>
                  <th scope="col">Phase</th>
                  <th scope="col" className="num">
                    Files
                  </th>
                  <th scope="col" className="num">
                    Read
                  </th>
                  <th scope="col" className="num">
                    Rate
                  </th>
                  <th scope="col" className="num">
                    Running for
                  </th>
                </tr>
              </thead>
              <tbody>
                {running.data.data.map((r) => (
                  <tr key={r.id}>
                    <td>
                      <Link to={`/runs/${r.id}`}>{r.job.name ?? r.kind}</Link>
                    </td>
                    <td>{r.progress?.phase ?? r.state}</td>
                    <td className="num">{files(r.progress?.files)}</td>
                    <td className="num">{bytes(r.progress?.bytes)}</td>
                    <td className="num">{rate(r.progress?.bytesPerSecond)}</td>
                    <td className="num">{duration(secondsBetween(r.startedAt, null))}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </Card>
        )}
      </div>
      <h2 className="section">Repositories</h2>
      <ErrorBox error={repos.error} />
      {!repos.data && !repos.error && <Loading />}
      {repos.data && repos.data.data.length === 0 && (
        <Empty>
          No repositories yet. <Link to="/repositories">Add one</Link>.
        </Empty>
      )}
      <div className="grid repos">
        {repos.data?.data.map((r) => (
          <RepositoryUsage key={r.id} repo={r} />
        ))}
      </div>
    </>
  );
}

export function RepositoryUsage({ repo }: { repo: Repository }) {
  const usage = useApi<Usage>(`repositories/${repo.id}/usage`, 60_000);
  return (
    <Card title={repo.name}>
      <p className="muted path" title={repo.location ?? undefined}>
        {repo.location}
      </p>
      <ErrorBox error={usage.error} title="Usage unavailable" />
      {!usage.data && !usage.error && <Loading what="usage" />}
      {usage.data && (
        <>
          <UsageBar
            used={usage.data.bytes}
            capacity={usage.data.capacityBytes}
            free={usage.data.freeBytes}
            of={usage.data.capacityOf}
          />
          <p>{count(usage.data.snapshots, 'restore point')}</p>
          <GrowthChart growth={usage.data.growth} />
        </>
      )}
    </Card>
  );
}
