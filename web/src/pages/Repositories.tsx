import { useState, type FormEvent } from 'react';
import { api, hasLink, query, type Page, type Repository, type Usage } from '../api.ts';
import { GrowthChart, UsageBar } from '../charts.tsx';
import { count, dateTime } from '../format.ts';
import { Link } from '../router.tsx';
import {
  Card,
  Empty,
  ErrorBox,
  Field,
  fieldError,
  Loading,
  Notice,
  PageTitle,
  useApi,
  useSession,
} from '../ui.tsx';

export function Repositories() {
  const { admin } = useSession();
  const repos = useApi<Page<Repository>>('repositories?limit=500');
  const [error, setError] = useState<unknown>();
  const [notice, setNotice] = useState<string>();
  return (
    <>
      <PageTitle>Repositories</PageTitle>
      <ErrorBox error={error ?? repos.error} />
      {notice && <Notice kind="success">{notice}</Notice>}
      {!repos.data && !repos.error && <Loading />}
      {repos.data && repos.data.data.length === 0 && <Empty>No repositories yet.</Empty>}
      <div className="grid repos">
        {repos.data?.data.map((r) => (
          <RepositoryCard
            key={r.id}
            repo={r}
            onDelete={() => {
              if (
                !window.confirm(
                  `Forget repository ${r.name}? Its data stays ${r.location ? `in ${r.location}` : 'where it is'}; jobs that use it stop working.`,
                )
              )
                return;
              setError(undefined);
              api('DELETE', `repositories/${r.id}`).then(
                () => {
                  setNotice(
                    `Repository ${r.name} forgotten; its data is still ${r.location ? `in ${r.location}` : 'where it was'}.`,
                  );
                  repos.reload();
                },
                (err: unknown) => setError(err),
              );
            }}
          />
        ))}
      </div>
      {admin && (
        <NewRepository
          onCreated={(r) => {
            setNotice(`Repository ${r.name} added.`);
            repos.reload();
          }}
        />
      )}
    </>
  );
}

function RepositoryCard({ repo, onDelete }: { repo: Repository; onDelete: () => void }) {
  const usage = useApi<Usage>(`repositories/${repo.id}/usage`);
  return (
    <Card
      title={repo.name}
      actions={
        <>
          <Link className="button small" to={`/restore${query({ repository: repo.id })}`}>
            Restore points
          </Link>
          {hasLink(repo, 'delete') && (
            <button
              type="button"
              className="small danger ghost"
              onClick={onDelete}
              aria-label={`Forget repository ${repo.name}`}
            >
              Forget
            </button>
          )}
        </>
      }
    >
      <dl className="facts compact">
        <dt>Location</dt>
        <dd className="path">
          <code>{repo.location ?? "in this tenant's storage"}</code>
        </dd>
        <dt>Runs at once</dt>
        <dd>{count(repo.maxConcurrent)}</dd>
        <dt>Added</dt>
        <dd>
          {dateTime(repo.createdAt)}
          {repo.origin === 'config' ? ' (configuration file)' : ''}
        </dd>
      </dl>
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

function NewRepository({ onCreated }: { onCreated: (r: Repository) => void }) {
  // Only the system administrator places repositories; a tenant's are made in its storage.
  const sys = useSession().session.user.systemAdmin;
  const [name, setName] = useState('');
  const [location, setLocation] = useState('');
  const [password, setPassword] = useState('');
  const [create, setCreate] = useState(true);
  const [maxConcurrent, setMaxConcurrent] = useState('');
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    const placed = sys && location.trim() !== '';
    api<Repository>('POST', 'repositories', {
      name: name.trim(),
      ...(placed ? { location: location.trim(), ...(password ? { password } : {}), create } : {}),
      ...(sys && maxConcurrent ? { maxConcurrent: Number(maxConcurrent) } : {}),
    }).then(
      (r) => {
        setBusy(false);
        setName('');
        setLocation('');
        setPassword('');
        onCreated(r);
      },
      (err: unknown) => {
        setBusy(false);
        setError(err);
      },
    );
  };
  return (
    <Card title="Add a repository" className="narrow">
      <form onSubmit={submit}>
        <ErrorBox error={error} title="Cannot add the repository" />
        <Field label="Name" error={fieldError(error, 'name')}>
          {(id, d) => (
            <input
              id={id}
              aria-describedby={d}
              required
              value={name}
              onChange={(e) => setName(e.target.value)}
            />
          )}
        </Field>
        {!sys && (
          <p className="muted">The repository is made in this tenant’s storage, with a key of its own.</p>
        )}
        {sys && (
          <Field
            label="Location"
            hint="A local folder on the server, or s3:http(s)://HOST/BUCKET/PREFIX. Leave empty: the tenant's storage, with a key of its own."
            error={fieldError(error, 'location')}
          >
            {(id, d) => (
              <input
                id={id}
                aria-describedby={d}
                className="mono"
                placeholder="/srv/cairn/main"
                value={location}
                onChange={(e) => setLocation(e.target.value)}
              />
            )}
          </Field>
        )}
        {sys && location.trim() !== '' && (
          <Field
            label="Password"
            hint="Leave empty: the server makes one and keeps it in its data folder."
            error={fieldError(error, 'password')}
          >
            {(id, d) => (
              <input
                id={id}
                aria-describedby={d}
                type="password"
                autoComplete="new-password"
                value={password}
                onChange={(e) => setPassword(e.target.value)}
              />
            )}
          </Field>
        )}
        {sys && (
          <Field
            label="Runs at once"
            hint="backups and restores writing to it at the same time"
            error={fieldError(error, 'maxConcurrent')}
          >
            {(id, d) => (
              <input
                id={id}
                aria-describedby={d}
                type="number"
                min={1}
                max={64}
                value={maxConcurrent}
                onChange={(e) => setMaxConcurrent(e.target.value)}
              />
            )}
          </Field>
        )}
        {sys && location.trim() !== '' && (
          <label className="check-line">
            <input type="checkbox" checked={create} onChange={(e) => setCreate(e.target.checked)} />{' '}
            Initialise it when the folder is empty
          </label>
        )}
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Adding…' : 'Add the repository'}
        </button>
      </form>
    </Card>
  );
}
