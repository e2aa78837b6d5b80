import { useEffect, useRef, useState, type FormEvent } from 'react';
import { logon, type Session } from '../api.ts';
import { ErrorBox, Notice } from '../ui.tsx';

export function Logon({
  onLogon,
  notice,
  error: initialError,
}: {
  onLogon: (s: Session) => void;
  notice?: string | undefined;
  error?: unknown;
}) {
  const [user, setUser] = useState('');
  const [password, setPassword] = useState('');
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(initialError);
  const userRef = useRef<HTMLInputElement>(null);
  useEffect(() => {
    document.title = 'Log on · Cairn';
    userRef.current?.focus();
  }, []);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    setBusy(true);
    setError(undefined);
    logon(user, password).then(onLogon, (err: unknown) => {
      setError(err);
      setBusy(false);
      setPassword('');
    });
  };
  return (
    <main className="logon" id="main">
      <form className="card logon-card" onSubmit={submit} aria-labelledby="logon-title">
        <h1 id="logon-title">
          <img src="/favicon.svg" alt="" width="32" height="32" /> Cairn
        </h1>
        <p className="muted">Log on to the backup server.</p>
        {notice && <Notice>{notice}</Notice>}
        <ErrorBox error={error} title="Cannot log on" />
        <div className="field">
          <label htmlFor="logon-user">User name</label>
          <input
            id="logon-user"
            ref={userRef}
            name="username"
            autoComplete="username"
            required
            value={user}
            onChange={(e) => setUser(e.target.value)}
          />
        </div>
        <div className="field">
          <label htmlFor="logon-password">Password</label>
          <input
            id="logon-password"
            name="password"
            type="password"
            autoComplete="current-password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
          />
        </div>
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Logging on…' : 'Log on'}
        </button>
      </form>
    </main>
  );
}
