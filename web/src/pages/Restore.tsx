import { useEffect, useMemo, useState, type FormEvent } from 'react';
import {
  api,
  downloadUrl,
  get,
  query,
  runIdOf,
  type Job,
  type Page,
  type Repository,
  type SearchHit,
  type Snapshot,
  type Task,
  type TreeEntry,
} from '../api.ts';
import { bytes, count, dateTime, files, shortId } from '../format.ts';
import { EntryIcon } from '../icons.tsx';
import { Link, setParams } from '../router.tsx';
import {
  Card,
  Empty,
  ErrorBox,
  Field,
  Loading,
  Notice,
  PageTitle,
  StateBadge,
  useApi,
  useSession,
} from '../ui.tsx';

type Replace = 'always' | 'ifnewer' | 'ifolder' | 'never';

const REPLACE: [Replace, string, string][] = [
  ['always', 'replace it', 'Every existing file is overwritten with the restore point’s copy.'],
  [
    'ifnewer',
    'replace it if older',
    'An existing file is replaced only when the restore point’s copy is newer.',
  ],
  [
    'ifolder',
    'replace it if newer',
    'An existing file is replaced only when the restore point’s copy is older.',
  ],
  ['never', 'keep it', 'Existing files are left as they are; only missing ones are restored.'],
];

const parentOf = (p: string) => {
  const i = p.lastIndexOf('/');
  return i <= 0 ? '/' : p.slice(0, i);
};

function day(iso: string): string {
  const d = new Date(iso);
  return d.toLocaleDateString('en-GB', { weekday: 'long', day: 'numeric', month: 'long', year: 'numeric' });
}

function pointLabel(s: Snapshot): string {
  const t = new Date(s.time);
  const hm = `${String(t.getHours()).padStart(2, '0')}:${String(t.getMinutes()).padStart(2, '0')}`;
  const sum = s.summary;
  const extra =
    sum?.totalFilesProcessed !== undefined
      ? ` · ${files(sum.totalFilesProcessed)}, ${bytes(sum.totalBytesProcessed)}`
      : '';
  return `${hm} · ${s.job ? `job ${s.job}` : s.host}${extra} · ${shortId(s.id)}`;
}

export function Restore({ params }: { params: URLSearchParams }) {
  const { restorer } = useSession();
  const repos = useApi<Page<Repository>>('repositories?limit=500');
  const jobs = useApi<Page<Job>>('jobs?limit=500');
  const repoId = params.get('repository') ?? repos.data?.data[0]?.id ?? '';
  const jobName = params.get('job') ?? '';
  const snapshots = useApi<Page<Snapshot>>(
    repoId ? `repositories/${repoId}/snapshots${query({ job: jobName, limit: 500 })}` : null,
  );
  const snapParam = params.get('snapshot') ?? '';
  const snapshot =
    snapshots.data?.data.find((s) => s.id === snapParam || (snapParam && s.id.startsWith(snapParam))) ??
    (snapParam ? undefined : snapshots.data?.data[0]);
  // A restore point of one folder opens at that folder; the path above it holds nothing else.
  const path = params.get('path') ?? (snapshot?.paths.length === 1 ? snapshot.paths[0]! : '/');
  const [marked, setMarked] = useState<string[]>([]);
  useEffect(() => setMarked([]), [snapshot?.id]);

  const jobsHere = jobs.data?.data.filter((j) => j.repository.id === repoId) ?? [];
  const byDay = useMemo(() => {
    const groups = new Map<string, Snapshot[]>();
    for (const s of snapshots.data?.data ?? []) {
      const k = day(s.time);
      groups.set(k, [...(groups.get(k) ?? []), s]);
    }
    return [...groups];
  }, [snapshots.data]);

  return (
    <>
      <PageTitle>Restore</PageTitle>
      <ErrorBox error={repos.error ?? jobs.error} />
      <Card title="Restore point" className="source-card">
        <div className="source-pickers">
          <Field label="Repository">
            {(id) => (
              <select
                id={id}
                value={repoId}
                onChange={(e) =>
                  setParams(
                    { repository: e.target.value, job: undefined, snapshot: undefined, path: undefined },
                    { push: true },
                  )
                }
              >
                {repos.data?.data.map((r) => (
                  <option key={r.id} value={r.id}>
                    {r.name}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field label="Job">
            {(id) => (
              <select
                id={id}
                value={jobName}
                onChange={(e) =>
                  setParams({ job: e.target.value, snapshot: undefined, path: undefined }, { push: true })
                }
              >
                <option value="">all restore points</option>
                {jobsHere.map((j) => (
                  <option key={j.id} value={j.name}>
                    {j.name}
                  </option>
                ))}
              </select>
            )}
          </Field>
          <Field
            label="Date and time"
            hint={snapshots.data ? count(snapshots.data.pagination.total, 'restore point') : undefined}
          >
            {(id, d) => (
              <select
                id={id}
                aria-describedby={d}
                value={snapshot?.id ?? ''}
                disabled={!snapshots.data?.data.length}
                onChange={(e) => setParams({ snapshot: e.target.value, path: undefined }, { push: true })}
              >
                {byDay.map(([k, list]) => (
                  <optgroup key={k} label={k}>
                    {list.map((s) => (
                      <option key={s.id} value={s.id}>
                        {pointLabel(s)}
                      </option>
                    ))}
                  </optgroup>
                ))}
              </select>
            )}
          </Field>
        </div>
        <ErrorBox error={snapshots.error} />
        {snapshots.data && snapshots.data.data.length === 0 && (
          <Empty>No restore points{jobName ? ` of job ${jobName}` : ''} in this repository yet.</Empty>
        )}
        {snapshot && (
          <p className="muted">
            Taken {dateTime(snapshot.time)} on {snapshot.host} from {snapshot.paths.join(', ')}
            {snapshot.tags.length ? ` · tags ${snapshot.tags.join(', ')}` : ''}
          </p>
        )}
      </Card>
      {repoId && <Search repoId={repoId} job={jobName} canDownload={restorer} />}
      {snapshot && (
        <div className="restore-layout">
          <Browser
            repoId={repoId}
            snapshot={snapshot}
            path={path}
            marked={marked}
            setMarked={setMarked}
            canDownload={restorer}
          />
          {restorer ? (
            <RestorePanel repoId={repoId} snapshot={snapshot} marked={marked} setMarked={setMarked} />
          ) : (
            <Card title="Restore">
              <p className="muted">Your role may browse and download, not restore.</p>
            </Card>
          )}
        </div>
      )}
    </>
  );
}

function Search({ repoId, job, canDownload }: { repoId: string; job: string; canDownload: boolean }) {
  const [text, setText] = useState('');
  const [asked, setAsked] = useState<string>();
  const results = useApi<{ data: SearchHit[] }>(
    asked
      ? `repositories/${repoId}/search${query({ name: asked.includes('*') || asked.includes('?') ? asked : `*${asked}*`, job, limit: 100 })}`
      : null,
  );
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setAsked(text.trim() || undefined);
  };
  return (
    <Card title="Find a file by name" className="search-card">
      <form className="inline-form" role="search" onSubmit={submit}>
        <label htmlFor="search-name" className="sr-only">
          Name or pattern
        </label>
        <input
          id="search-name"
          type="search"
          placeholder="a name or a pattern such as *.conf or report-2024*"
          value={text}
          onChange={(e) => setText(e.target.value)}
        />
        <button type="submit">Search all restore points</button>
      </form>
      {asked && (
        <>
          <ErrorBox error={results.error} title="Cannot search" />
          {!results.data && !results.error && <Loading what="results" />}
          {results.data && results.data.data.length === 0 && (
            <Empty>
              Nothing named {asked} in any restore point{job ? ` of job ${job}` : ''}.
            </Empty>
          )}
          {results.data && results.data.data.length > 0 && (
            <div className="scroll-box">
              <table>
                <caption className="sr-only">Search results</caption>
                <thead>
                  <tr>
                    <th scope="col">Path</th>
                    <th scope="col">Restore point</th>
                    <th scope="col" className="num">
                      Size
                    </th>
                    <th scope="col">Modified</th>
                    <th scope="col">
                      <span className="sr-only">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {results.data.data.map((h) => (
                    <tr key={`${h.snapshot}${h.path}`}>
                      <td className="path-cell" title={h.path}>
                        <EntryIcon type={h.type} />
                        {h.path}
                      </td>
                      <td>{dateTime(h.time)}</td>
                      <td className="num">{h.type === 'file' ? bytes(h.size) : ''}</td>
                      <td>{dateTime(h.mtime)}</td>
                      <td className="actions">
                        <button
                          type="button"
                          className="small"
                          onClick={() =>
                            setParams(
                              { snapshot: h.snapshot, path: h.type === 'dir' ? h.path : parentOf(h.path) },
                              { push: true },
                            )
                          }
                        >
                          Show
                        </button>
                        {canDownload && (h.type === 'file' || h.type === 'dir') && (
                          <a
                            className="button small ghost"
                            href={downloadUrl(repoId, h.snapshot, h.path)}
                            download
                          >
                            {h.type === 'dir' ? 'Download .tar' : 'Download'}
                          </a>
                        )}
                      </td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          )}
        </>
      )}
    </Card>
  );
}

function Browser({
  repoId,
  snapshot,
  path,
  marked,
  setMarked,
  canDownload,
}: {
  repoId: string;
  snapshot: Snapshot;
  path: string;
  marked: string[];
  setMarked: (m: string[]) => void;
  canDownload: boolean;
}) {
  const tree = useApi<{ path: string; entries: TreeEntry[] }>(
    `repositories/${repoId}/snapshots/${snapshot.id}/tree${query({ path })}`,
  );
  const parts = path.split('/').filter(Boolean);
  const open = (p: string) => setParams({ path: p }, { push: true });
  const coveredBy = (p: string) => marked.find((m) => m !== p && (p.startsWith(`${m}/`) || m === '/'));
  const toggle = (p: string, on: boolean) =>
    setMarked(on ? [...marked.filter((m) => !m.startsWith(`${p}/`)), p] : marked.filter((m) => m !== p));
  const entries = tree.data?.entries ?? [];
  const dirs = entries.filter((e) => e.type === 'dir').length;
  const fileCount = entries.filter((e) => e.type === 'file').length;
  const others = entries.length - dirs - fileCount;
  return (
    <Card title="Browse" className="browser">
      <nav className="breadcrumb" aria-label="Folder">
        <ol>
          <li>
            <button
              type="button"
              className="link"
              onClick={() => open('/')}
              aria-current={parts.length === 0 ? 'location' : undefined}
            >
              / (top)
            </button>
          </li>
          {parts.map((name, i) => {
            const p = `/${parts.slice(0, i + 1).join('/')}`;
            return (
              <li key={p}>
                <button
                  type="button"
                  className="link"
                  onClick={() => open(p)}
                  aria-current={i === parts.length - 1 ? 'location' : undefined}
                >
                  {name}
                </button>
              </li>
            );
          })}
        </ol>
      </nav>
      <ErrorBox error={tree.error} title="Cannot list the folder" />
      {!tree.data && !tree.error && <Loading what="the folder" />}
      {tree.data && entries.length === 0 && <Empty>This folder is empty.</Empty>}
      {tree.data && entries.length > 0 && (
        <>
          <p className="muted small-text">
            {count(dirs, 'folder')}, {count(fileCount, 'file')}
            {others > 0 ? `, ${count(others, 'other entry', 'other entries')}` : ''} ·{' '}
            {bytes(entries.reduce((s, e) => s + (e.type === 'file' ? e.size : 0), 0))} in the files here
          </p>
          <div className="scroll-box tall">
            <table className="tree">
              <caption className="sr-only">Contents of {path}</caption>
              <thead>
                <tr>
                  <th scope="col" className="mark-col">
                    <span className="sr-only">Marked for restore</span>
                  </th>
                  <th scope="col">Name</th>
                  <th scope="col" className="num">
                    Size
                  </th>
                  <th scope="col">Modified</th>
                  <th scope="col">
                    <span className="sr-only">Download</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {parts.length > 0 && (
                  <tr>
                    <td />
                    <td colSpan={4}>
                      <button type="button" className="link" onClick={() => open(parentOf(path))}>
                        ↑ up to {parentOf(path)}
                      </button>
                    </td>
                  </tr>
                )}
                {entries.map((e) => {
                  const cover = coveredBy(e.path);
                  const on = !!cover || marked.includes(e.path);
                  return (
                    <tr key={e.path} className={on ? 'marked' : undefined}>
                      <td className="mark-col">
                        <input
                          type="checkbox"
                          checked={on}
                          disabled={!!cover}
                          title={cover ? `included with ${cover}` : undefined}
                          aria-label={`Mark ${e.name} for restore`}
                          onChange={(ev) => toggle(e.path, ev.target.checked)}
                        />
                      </td>
                      <td className="name-cell">
                        {e.type === 'dir' ? (
                          <button
                            type="button"
                            className="link"
                            onClick={() => open(e.path)}
                            aria-label={`Open folder ${e.name}`}
                          >
                            <EntryIcon type="dir" />
                            {e.name}
                          </button>
                        ) : (
                          <span>
                            <EntryIcon type={e.type} />
                            {e.name}
                          </span>
                        )}
                      </td>
                      <td className="num">
                        {e.type === 'file' ? bytes(e.size) : e.type === 'dir' ? 'folder' : e.type}
                      </td>
                      <td>{dateTime(e.mtime)}</td>
                      <td className="actions">
                        {canDownload && (e.type === 'file' || e.type === 'dir') && (
                          <a
                            className="button small ghost"
                            href={downloadUrl(repoId, snapshot.id, e.path)}
                            download
                            aria-label={`Download ${e.name}${e.type === 'dir' ? ' as a .tar archive' : ''}`}
                          >
                            {e.type === 'dir' ? 'Download .tar' : 'Download'}
                          </a>
                        )}
                      </td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
          </div>
        </>
      )}
    </Card>
  );
}

function RestorePanel({
  repoId,
  snapshot,
  marked,
  setMarked,
}: {
  repoId: string;
  snapshot: Snapshot;
  marked: string[];
  setMarked: (m: string[]) => void;
}) {
  const [where, setWhere] = useState<'original' | 'other'>('other');
  const [target, setTarget] = useState('');
  const [replace, setReplace] = useState<Replace>('ifnewer');
  const [error, setError] = useState<unknown>();
  const [task, setTask] = useState<Task>();
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (!task || task.state === 'finished') return;
    const t = setInterval(() => {
      get<Task>(`tasks/${task.id}`).then(setTask, (err: unknown) => setError(err));
    }, 1000);
    return () => clearInterval(t);
  }, [task]);

  const submit = (e: FormEvent) => {
    e.preventDefault();
    setError(undefined);
    setTask(undefined);
    const dest = where === 'original' ? '/' : target.trim();
    if (!dest.startsWith('/')) {
      setError(new Error('The folder must be an absolute path on the server, such as /srv/restored'));
      return;
    }
    if (
      where === 'original' &&
      replace === 'always' &&
      !window.confirm('Restore to the original place and replace existing files?')
    )
      return;
    setBusy(true);
    api<Task>('POST', 'restores', {
      repository: repoId,
      snapshot: snapshot.id,
      target: dest,
      ...(marked.length ? { paths: marked } : {}),
      replace,
    }).then(
      (t) => {
        setTask(t);
        setBusy(false);
      },
      (err: unknown) => {
        setError(err);
        setBusy(false);
      },
    );
  };
  const run = task ? runIdOf(task) : undefined;
  return (
    <Card title="Restore" className="restore-panel">
      <form onSubmit={submit}>
        <h3>Marked</h3>
        {marked.length === 0 ? (
          <p className="muted">
            Nothing marked: the whole restore point is restored. Mark files and folders to restore only those.
          </p>
        ) : (
          <ul className="marked-list">
            {marked.map((m) => (
              <li key={m}>
                <span className="marked-path">
                  <code>{m.slice(m.lastIndexOf('/') + 1) || '/'}</code>
                  <span className="muted">in {parentOf(m)}</span>
                </span>
                <button
                  type="button"
                  className="small ghost"
                  aria-label={`Unmark ${m}`}
                  onClick={() => setMarked(marked.filter((x) => x !== m))}
                >
                  ✕
                </button>
              </li>
            ))}
          </ul>
        )}
        <fieldset>
          <legend>Restore to</legend>
          <label className="check-line">
            <input
              type="radio"
              name="where"
              checked={where === 'original'}
              onChange={() => setWhere('original')}
            />{' '}
            the original place
          </label>
          <label className="check-line">
            <input type="radio" name="where" checked={where === 'other'} onChange={() => setWhere('other')} />{' '}
            another folder
          </label>
          {where === 'other' && (
            <Field label="Folder on the server" hint="Files keep their full path under it.">
              {(id, d) => (
                <input
                  id={id}
                  aria-describedby={d}
                  className="mono"
                  placeholder="/srv/restored"
                  value={target}
                  onChange={(e) => setTarget(e.target.value)}
                />
              )}
            </Field>
          )}
        </fieldset>
        <Field label="When a file is already there" hint={REPLACE.find((r) => r[0] === replace)?.[2]}>
          {(id, d) => (
            <select
              id={id}
              aria-describedby={d}
              value={replace}
              onChange={(e) => setReplace(e.target.value as Replace)}
            >
              {REPLACE.map(([v, label]) => (
                <option key={v} value={v}>
                  {label}
                </option>
              ))}
            </select>
          )}
        </Field>
        <ErrorBox error={error} title="Cannot restore" />
        <button type="submit" className="primary" disabled={busy || (task && task.state === 'running')}>
          {marked.length ? `Restore ${count(marked.length, 'item')}` : 'Restore the whole restore point'}
        </button>
      </form>
      {task && (
        <div className="task-state" aria-live="polite">
          {task.state === 'running' ? (
            <Notice>Restoring… {run && <Link to={`/runs/${run}`}>follow the run</Link>}</Notice>
          ) : (
            <Notice kind={task.result === 'success' ? 'success' : 'info'}>
              Restore finished: <StateBadge state={task.result} /> {task.message}{' '}
              {run && <Link to={`/runs/${run}`}>see the run</Link>}
            </Notice>
          )}
        </div>
      )}
    </Card>
  );
}
