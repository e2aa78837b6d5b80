import { useState } from 'react';
import { api, hasLink, runIdOf, type Job, type Level, type Page, type Task } from '../api.ts';
import { describeCron, friendlyTime, relative } from '../format.ts';
import { Link, navigate } from '../router.tsx';
import { Card, Empty, ErrorBox, Loading, PageTitle, StateBadge, useApi, useSession } from '../ui.tsx';

/** Starts a job now (at another level than its own, if given) and opens the run's page. */
export async function startJob(job: Pick<Job, 'id'>, level?: Level): Promise<void> {
  const task = await api<Task>('POST', `jobs/${job.id}/start`, level ? { level } : undefined);
  const run = runIdOf(task);
  if (run) navigate(`/runs/${run}`);
}

export function scheduleText(job: Pick<Job, 'schedule'>): string {
  if (!job.schedule) return 'manual only';
  const d = describeCron(job.schedule.cron);
  return `${d ?? job.schedule.cron}${job.schedule.timezone ? ` (${job.schedule.timezone})` : ''}`;
}

export function Jobs() {
  const { admin } = useSession();
  const jobs = useApi<Page<Job>>('jobs?limit=500', 10_000);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState<string>();
  return (
    <>
      <PageTitle
        actions={
          admin && (
            <Link to="/jobs/new" className="button primary">
              New job
            </Link>
          )
        }
      >
        Jobs
      </PageTitle>
      <ErrorBox error={error ?? jobs.error} />
      {!jobs.data && !jobs.error && <Loading />}
      {jobs.data && jobs.data.data.length === 0 && (
        <Empty>No jobs yet.{admin && ' Create one with “New job”.'}</Empty>
      )}
      {jobs.data && jobs.data.data.length > 0 && (
        <Card>
          <table>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">Repository</th>
                <th scope="col">Sources</th>
                <th scope="col">Schedule</th>
                <th scope="col">Next run</th>
                <th scope="col">Last run</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {jobs.data.data.map((j) => (
                <tr key={j.id}>
                  <td>
                    <Link to={`/jobs/${j.id}`}>{j.name}</Link>
                    {!j.enabled && <span className="badge">disabled</span>}
                  </td>
                  <td>{j.repository.name ?? j.repository.id}</td>
                  <td className="path-cell" title={j.sources.join('\n')}>
                    {j.sources[0]}
                    {j.sources.length > 1 && <span className="muted"> +{j.sources.length - 1}</span>}
                  </td>
                  <td>{scheduleText(j)}</td>
                  <td>
                    {j.nextRun ? (
                      <>
                        {friendlyTime(j.nextRun)} <span className="muted">({relative(j.nextRun)})</span>
                      </>
                    ) : (
                      <span className="muted">–</span>
                    )}
                  </td>
                  <td>
                    {j.lastRun ? (
                      <Link
                        to={`/runs/${j.lastRun.id}`}
                        aria-label={`Last run of ${j.name}: ${j.lastRun.state}`}
                      >
                        <StateBadge state={j.lastRun.state} />
                      </Link>
                    ) : (
                      <StateBadge state={null} />
                    )}
                  </td>
                  <td className="actions">
                    {hasLink(j, 'start') && (
                      <button
                        type="button"
                        disabled={busy === j.id}
                        aria-label={`Start ${j.name} now`}
                        onClick={() => {
                          setBusy(j.id);
                          setError(undefined);
                          startJob(j).catch((err: unknown) => {
                            setError(err);
                            setBusy(undefined);
                          });
                        }}
                      >
                        Start now
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
        </Card>
      )}
    </>
  );
}
