/** The application shell: logon gate, top navigation, theme toggle, logoff and the page routes. */
import { useEffect, useRef, useState } from 'react';
import { currentSession, logoff, whenSignedOut, type Session } from './api.ts';
import { Dashboard } from './pages/Dashboard.tsx';
import { JobForm } from './pages/JobForm.tsx';
import { JobPage } from './pages/JobPage.tsx';
import { Jobs } from './pages/Jobs.tsx';
import { Logon } from './pages/Logon.tsx';
import { Repositories } from './pages/Repositories.tsx';
import { Restore } from './pages/Restore.tsx';
import { RunPage } from './pages/RunPage.tsx';
import { Runs } from './pages/Runs.tsx';
import { Scripts } from './pages/Scripts.tsx';
import { Simulator } from './pages/Simulator.tsx';
import { Tenants } from './pages/Tenants.tsx';
import { Users } from './pages/Users.tsx';
import { Link, match, navigate, useLocation } from './router.tsx';
import { applyTheme, effectiveTheme, storedTheme, type ThemeChoice } from './theme.ts';
import { ErrorBox, Loading, PageTitle, SessionContext, sessionInfo, useSession } from './ui.tsx';

export function App() {
  // undefined: nobody is logged on; null: still asking the server.
  const [session, setSession] = useState<Session | undefined | null>(null);
  const [expired, setExpired] = useState(false);
  const [error, setError] = useState<unknown>();
  useEffect(() => {
    whenSignedOut(() => {
      setExpired(true);
      setSession(undefined);
    });
    currentSession().then(setSession, (err: unknown) => {
      setError(err);
      setSession(undefined);
    });
  }, []);
  if (session === null)
    return (
      <main className="center">
        <Loading />
      </main>
    );
  if (!session)
    return (
      <Logon
        notice={expired ? 'Your session has ended. Please log on again.' : undefined}
        error={error}
        onLogon={(s) => {
          setError(undefined);
          setExpired(false);
          setSession(s);
        }}
      />
    );
  return (
    <SessionContext.Provider value={sessionInfo(session)}>
      <Shell
        onLogoff={() => {
          setExpired(false);
          setSession(undefined);
          navigate('/', { replace: true });
        }}
      />
    </SessionContext.Provider>
  );
}

const NAV: { to: string; label: string; admin?: boolean; system?: boolean }[] = [
  { to: '/', label: 'Dashboard' },
  { to: '/jobs', label: 'Jobs' },
  { to: '/runs', label: 'Runs' },
  { to: '/restore', label: 'Restore' },
  { to: '/repositories', label: 'Repositories' },
  // Everyone: there each user changes its own password; administrators also manage users.
  { to: '/users', label: 'Users' },
  { to: '/tenants', label: 'Tenants', system: true },
  { to: '/scripts', label: 'Scripts', system: true },
  { to: '/simulator', label: 'Simulator' },
];

function ThemeToggle() {
  const [choice, setChoice] = useState<ThemeChoice>(storedTheme);
  const next: Record<ThemeChoice, ThemeChoice> = { system: 'light', light: 'dark', dark: 'system' };
  const label =
    choice === 'system' ? `System (${effectiveTheme('system')})` : choice === 'light' ? 'Light' : 'Dark';
  return (
    <button
      type="button"
      className="ghost"
      onClick={() => {
        const c = next[choice];
        applyTheme(c);
        setChoice(c);
      }}
      title="Switch between the system's, the light and the dark theme"
    >
      <span aria-hidden="true">{effectiveTheme(choice) === 'dark' ? '☾' : '☀'}</span> Theme: {label}
    </button>
  );
}

function Shell({ onLogoff }: { onLogoff: () => void }) {
  const { session, admin } = useSession();
  const loc = useLocation();
  const [error, setError] = useState<unknown>();
  const first = useRef(true);
  useEffect(() => {
    // Move the focus to the new page's heading, so keyboard and screen reader users start there.
    if (first.current) {
      first.current = false;
      return;
    }
    requestAnimationFrame(() => document.getElementById('page-title')?.focus({ preventScroll: true }));
  }, [loc.path]);
  const active = (to: string) =>
    to === '/' ? loc.path === '/' : loc.path === to || loc.path.startsWith(`${to}/`);
  return (
    <>
      <a className="skip" href="#main">
        Skip to the page
      </a>
      <header className="top">
        <Link to="/" className="brand" aria-label="Cairn dashboard">
          <img src="/favicon.svg" alt="" width="24" height="24" /> Cairn
        </Link>
        <nav aria-label="Main">
          <ul>
            {NAV.filter((n) => (!n.admin || admin) && (!n.system || session.user.systemAdmin)).map((n) => (
              <li key={n.to}>
                <Link to={n.to} aria-current={active(n.to) ? 'page' : undefined}>
                  {n.label}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <div className="who">
          <ThemeToggle />
          <span className="user" title={`tenant ${session.tenant.name ?? ''}`}>
            {session.user.name}{' '}
            <span className="muted">
              · {session.user.systemAdmin ? 'system administrator' : (session.role ?? 'no role')}
            </span>
          </span>
          <button
            type="button"
            onClick={() => {
              logoff().then(onLogoff, (err: unknown) => {
                setError(err);
              });
            }}
          >
            Log off
          </button>
        </div>
      </header>
      <main id="main">
        <ErrorBox error={error} title="Cannot log off" />
        <Page path={loc.path} params={loc.params} />
      </main>
    </>
  );
}

function Page({ path, params }: { path: string; params: URLSearchParams }) {
  let m: Record<string, string> | undefined;
  if (path === '/' || path === '/index.html') return <Dashboard />;
  if (path === '/jobs') return <Jobs />;
  if (path === '/jobs/new') return <JobForm key="new" />;
  if ((m = match('/jobs/:id/edit', path))) return <JobForm key={m.id} id={m.id} />;
  if ((m = match('/jobs/:id', path))) return <JobPage key={m.id} id={m.id!} />;
  if (path === '/runs') return <Runs params={params} />;
  if ((m = match('/runs/:id', path))) return <RunPage key={m.id} id={m.id!} />;
  if (path === '/restore') return <Restore params={params} />;
  if (path === '/repositories') return <Repositories />;
  if (path === '/users') return <Users />;
  if (path === '/tenants') return <Tenants />;
  if (path === '/scripts') return <Scripts />;
  if (path === '/simulator') return <Simulator />;
  return (
    <>
      <PageTitle>Not found</PageTitle>
      <p>
        There is no page at <code>{path}</code>. <Link to="/">Go to the dashboard</Link>.
      </p>
    </>
  );
}
