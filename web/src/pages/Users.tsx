/**
 * Users: everyone changes its own password here (with the old one); administrators also see the
 * tenant's users, add them, reset a password, change a role, disable or delete a user. What an
 * administrator may change follows each user's links (none for a system administrator, unless the
 * caller is one, nor for oneself).
 */
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
  const [editing, setEditing] = useState<User>();
  return (
    <>
      <PageTitle>Users</PageTitle>
      <ErrorBox error={error ?? users.error} />
      {notice && <Notice kind="success">{notice}</Notice>}
      <div className="grid">
        {admin && (
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
                        {u.id === session.user.id && <span className="muted"> (you)</span>}
                        {u.logonName !== u.name && (
                          <div className="muted small-text">logs on as {u.logonName}</div>
                        )}
                      </td>
                      <td>
                        {u.role ?? '–'}
                        {u.systemAdmin && <span className="badge">system administrator</span>}
                        {u.disabled && <span className="badge state-failed">disabled</span>}
                      </td>
                      <td>{dateTime(u.createdAt)}</td>
                      <td className="actions">
                        {hasLink(u, 'edit') && (
                          <button
                            type="button"
                            className="small ghost"
                            aria-label={`Change user ${u.name}`}
                            onClick={() => {
                              setNotice(undefined);
                              setEditing(u);
                            }}
                          >
                            Change
                          </button>
                        )}
                        {hasLink(u, 'delete') && (
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
                                  if (editing?.id === u.id) setEditing(undefined);
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
        )}
        {admin && editing && (
          <EditUser
            key={editing.id}
            user={editing}
            onDone={(message) => {
              setEditing(undefined);
              if (message) setNotice(message);
              users.reload();
            }}
          />
        )}
        {admin && (
          <NewUser
            onCreated={(u) => {
              setNotice(
                `User ${u.name} created with the role ${u.role ?? ''}; ${u.name} logs on as ${u.logonName}.`,
              );
              users.reload();
            }}
          />
        )}
        <ChangeMyPassword />
      </div>
    </>
  );
}

function PasswordField({
  label,
  value,
  onChange,
  autoComplete,
  hint,
  error,
  required = true,
}: {
  label: string;
  value: string;
  onChange: (v: string) => void;
  autoComplete: string;
  hint?: string;
  error?: string | undefined;
  required?: boolean;
}) {
  return (
    <Field label={label} hint={hint} error={error}>
      {(id, d) => (
        <input
          id={id}
          aria-describedby={d}
          type="password"
          autoComplete={autoComplete}
          required={required}
          minLength={autoComplete === 'new-password' ? 8 : undefined}
          value={value}
          onChange={(e) => onChange(e.target.value)}
        />
      )}
    </Field>
  );
}

function ChangeMyPassword() {
  const [oldPassword, setOld] = useState('');
  const [newPassword, setNew] = useState('');
  const [repeat, setRepeat] = useState('');
  const [error, setError] = useState<unknown>();
  const [done, setDone] = useState(false);
  const [busy, setBusy] = useState(false);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setDone(false);
    if (newPassword !== repeat) {
      setError(new Error('The two entries of the new password differ.'));
      return;
    }
    setBusy(true);
    setError(undefined);
    api('PUT', 'users/current/password', { oldPassword, newPassword }).then(
      () => {
        setBusy(false);
        setOld('');
        setNew('');
        setRepeat('');
        setDone(true);
      },
      (err: unknown) => {
        setBusy(false);
        setOld('');
        setError(err);
      },
    );
  };
  return (
    <Card title="Change my password">
      <form onSubmit={submit}>
        <ErrorBox error={error} title="Cannot change the password" />
        {done && <Notice kind="success">Your password is changed; your other sessions have ended.</Notice>}
        <PasswordField
          label="Current password"
          value={oldPassword}
          onChange={setOld}
          autoComplete="current-password"
        />
        <PasswordField
          label="New password"
          hint="At least 8 characters."
          value={newPassword}
          onChange={setNew}
          autoComplete="new-password"
          error={fieldError(error, 'newPassword')}
        />
        <PasswordField
          label="Repeat the new password"
          value={repeat}
          onChange={setRepeat}
          autoComplete="new-password"
        />
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Changing…' : 'Change my password'}
        </button>
      </form>
    </Card>
  );
}

function EditUser({ user, onDone }: { user: User; onDone: (message?: string) => void }) {
  const [password, setPassword] = useState('');
  const [role, setRole] = useState<Role>(user.role ?? 'viewer');
  const [disabled, setDisabled] = useState(user.disabled);
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const body: { password?: string; role?: Role; disabled?: boolean } = {};
    if (password) body.password = password;
    if (role !== user.role) body.role = role;
    if (disabled !== user.disabled) body.disabled = disabled;
    if (Object.keys(body).length === 0) {
      onDone();
      return;
    }
    setBusy(true);
    setError(undefined);
    api<User>('PATCH', `users/${user.id}`, body).then(
      () =>
        onDone(
          `User ${user.name} changed${body.password ? ': the new password is set and the sessions have ended' : ''}.`,
        ),
      (err: unknown) => {
        setBusy(false);
        setError(err);
      },
    );
  };
  return (
    <Card title={`Change user ${user.name}`}>
      <form onSubmit={submit}>
        <ErrorBox error={error} title="Cannot change the user" />
        <PasswordField
          label="New password"
          hint="Leave empty to keep it. At least 8 characters; the user's sessions end."
          value={password}
          onChange={setPassword}
          autoComplete="new-password"
          required={false}
          error={fieldError(error, 'password')}
        />
        <fieldset>
          <legend>Role</legend>
          {ROLES.map((r) => (
            <label key={r} className="check-line">
              <input
                type="radio"
                name={`role-${user.id}`}
                value={r}
                checked={role === r}
                onChange={() => setRole(r)}
              />{' '}
              <strong>{r}</strong>
            </label>
          ))}
        </fieldset>
        <label className="check-line">
          <input type="checkbox" checked={disabled} onChange={(e) => setDisabled(e.target.checked)} />{' '}
          Disabled (cannot log on; its sessions end)
        </label>
        <div className="form-actions">
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Saving…' : 'Save'}
          </button>{' '}
          <button type="button" onClick={() => onDone()}>
            Cancel
          </button>
        </div>
      </form>
    </Card>
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
        <PasswordField
          label="Password"
          hint="At least 8 characters."
          value={password}
          onChange={setPassword}
          autoComplete="new-password"
          error={fieldError(error, 'password')}
        />
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
