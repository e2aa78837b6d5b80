import { useState, type FormEvent } from 'react';
import { api, hasLink, ROLES, type Page, type Role, type User } from '../api.ts';
import { dateTime } from '../format.ts';
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

const ROLE_TEXT: Record<Role, string> = {
  viewer: 'sees everything, changes nothing',
  'restore-operator': 'viewer, and restores',
  operator: 'restore operator, and starts and cancels jobs',
  administrator: 'everything: repositories, jobs and users',
};

export function Users() {
  const { admin, session } = useSession();
  const users = useApi<Page<User>>(admin ? 'users?limit=500' : null);
  const [error, setError] = useState<unknown>();
  const [notice, setNotice] = useState<string>();
  if (!admin)
    return (
      <>
        <PageTitle>Users</PageTitle>
        <p>Only administrators manage users.</p>
      </>
    );
  return (
    <>
      <PageTitle>Users</PageTitle>
      <ErrorBox error={error ?? users.error} />
      {notice && <Notice kind="success">{notice}</Notice>}
      <div className="grid">
        <Card title={`Users of tenant ${session.tenant.name ?? ''}`} className="span-2">
          {!users.data && !users.error && <Loading />}
          {users.data && users.data.data.length === 0 && <Empty>No users.</Empty>}
          {users.data && users.data.data.length > 0 && (
            <table>
              <thead>
                <tr>
                  <th scope="col">Name</th>
                  <th scope="col">Role</th>
                  <th scope="col">Created</th>
                  <th scope="col">
                    <span className="sr-only">Actions</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {users.data.data.map((u) => (
                  <tr key={u.id}>
                    <td>
                      {u.name}
                      {u.name === session.user.name && <span className="muted"> (you)</span>}
                    </td>
                    <td>
                      {u.role ?? '–'}
                      {u.systemAdmin && <span className="badge">system administrator</span>}
                    </td>
                    <td>{dateTime(u.createdAt)}</td>
                    <td className="actions">
                      {hasLink(u, 'delete') && u.name !== session.user.name && (
                        <button
                          type="button"
                          className="small danger ghost"
                          aria-label={`Delete user ${u.name}`}
                          onClick={() => {
                            if (!window.confirm(`Delete user ${u.name}?`)) return;
                            setError(undefined);
                            api('DELETE', `users/${u.id}`).then(
                              () => {
                                setNotice(`User ${u.name} deleted.`);
                                users.reload();
                              },
                              (err: unknown) => setError(err),
                            );
                          }}
                        >
                          Delete
                        </button>
                      )}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </Card>
        <NewUser
          onCreated={(u) => {
            setNotice(`User ${u.name} created with the role ${u.role ?? ''}.`);
            users.reload();
          }}
        />
      </div>
    </>
  );
}

function NewUser({ onCreated }: { onCreated: (u: User) => void }) {
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    api<User>('POST', 'users', { name: name.trim(), password, role }).then(
      (u) => {
        setBusy(false);
        setName('');
        setPassword('');
        onCreated(u);
      },
      (err: unknown) => {
        setBusy(false);
        setError(err);
      },
    );
  };
  return (
    <Card title="Add a user">
      <form onSubmit={submit}>
        <ErrorBox error={error} title="Cannot add the user" />
        <Field label="Name" error={fieldError(error, 'name')}>
          {(id, d) => (
            <input
              id={id}
              aria-describedby={d}
              required
              autoComplete="off"
              value={name}
              onChange={(e) => setName(e.target.value)}
            />
          )}
        </Field>
        <Field label="Password" hint="At least 8 characters." error={fieldError(error, 'password')}>
          {(id, d) => (
            <input
              id={id}
              aria-describedby={d}
              type="password"
              autoComplete="new-password"
              required
              minLength={8}
              value={password}
              onChange={(e) => setPassword(e.target.value)}
            />
          )}
        </Field>
        <fieldset>
          <legend>Role</legend>
          {ROLES.map((r) => (
            <label key={r} className="check-line">
              <input type="radio" name="role" value={r} checked={role === r} onChange={() => setRole(r)} />{' '}
              <strong>{r}</strong> <span className="muted">– {ROLE_TEXT[r]}</span>
            </label>
          ))}
        </fieldset>
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Adding…' : 'Add the user'}
        </button>
      </form>
    </Card>
  );
}
