import { query, RUN_STATES, type Job, type Page, type Run } from '../api.ts';
import { count } from '../format.ts';
import { setParams } from '../router.tsx';
import { Card, PageTitle, useApi } from '../ui.tsx';
import { RunTable } from './JobPage.tsx';

const LIMIT = 25;

export function Runs({ params }: { params: URLSearchParams }) {
  const job = params.get('job') ?? '';
  const state = params.get('state') ?? '';
  const kind = params.get('kind') ?? '';
  const since = params.get('since') ?? '';
  const skip = Number(params.get('skip') ?? 0) || 0;
  const jobs = useApi<Page<Job>>('jobs?limit=500');
  const runs = useApi<Page<Run>>(
    `runs${query({ job, state, kind, since: since ? new Date(`${since}T00:00`).toISOString() : '', skip, limit: LIMIT })}`,
    5000,
  );
  const total = runs.data?.pagination.total ?? 0;
  const filter = (k: string, v: string) => setParams({ [k]: v, skip: undefined });
  return (
    <>
      <PageTitle>Runs</PageTitle>
      <form className="filters" role="search" aria-label="Filter runs" onSubmit={(e) => e.preventDefault()}>
        <label>
          Job
          <select value={job} onChange={(e) => filter('job', e.target.value)}>
            <option value="">all jobs</option>
            {jobs.data?.data.map((j) => (
              <option key={j.id} value={j.id}>
                {j.name}
              </option>
            ))}
          </select>
        </label>
        <label>
          State
          <select value={state} onChange={(e) => filter('state', e.target.value)}>
            <option value="">any state</option>
            {RUN_STATES.map((s) => (
              <option key={s} value={s}>
                {s}
              </option>
            ))}
          </select>
        </label>
        <label>
          Kind
          <select value={kind} onChange={(e) => filter('kind', e.target.value)}>
            <option value="">backups and restores</option>
            <option value="backup">backups</option>
            <option value="restore">restores</option>
          </select>
        </label>
        <label>
          Since
          <input type="date" value={since} onChange={(e) => filter('since', e.target.value)} />
        </label>
        {(job || state || kind || since) && (
          <button
            type="button"
            className="ghost"
            onClick={() =>
              setParams({
                job: undefined,
                state: undefined,
                kind: undefined,
                since: undefined,
                skip: undefined,
              })
            }
          >
            Clear filters
          </button>
        )}
      </form>
      <Card>
        <RunTable runs={runs.data?.data} error={runs.error} showJob />
        {runs.data && total > 0 && (
          <nav className="pager" aria-label="Pages of runs">
            <button
              type="button"
              disabled={skip === 0}
              onClick={() => setParams({ skip: String(Math.max(0, skip - LIMIT)) }, { push: true })}
            >
              Newer
            </button>
            <span>
              {count(skip + 1)}–{count(Math.min(total, skip + LIMIT))} of {count(total, 'run')}
            </span>
            <button
              type="button"
              disabled={skip + LIMIT >= total}
              onClick={() => setParams({ skip: String(skip + LIMIT) }, { push: true })}
            >
              Older
            </button>
          </nav>
        )}
      </Card>
    </>
  );
}
