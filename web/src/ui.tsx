/** Building blocks shared by the pages: data loading, errors, state badges, cards, fields. */
import {
  createContext,
  useCallback,
  useContext,
  useEffect,
  useId,
  useRef,
  useState,
  type ReactNode,
} from 'react';
import { ApiError, get, type RunState, type Session } from './api.ts';

export interface SessionInfo {
  readonly session: Session;
  /** May change repositories, jobs and users. */
  readonly admin: boolean;
  readonly operator: boolean;
  readonly restorer: boolean;
}

export const SessionContext = createContext<SessionInfo | undefined>(undefined);

export function useSession(): SessionInfo {
  const s = useContext(SessionContext);
  if (!s) throw new Error('useSession outside a logged-on page');
  return s;
}

export function sessionInfo(session: Session): SessionInfo {
  const rank = ['viewer', 'restore-operator', 'operator', 'administrator'].indexOf(session.role ?? '');
  const sys = session.user.systemAdmin;
  return {
    session,
    admin: sys || rank >= 3,
    operator: sys || rank >= 2,
    restorer: sys || rank === 1 || rank >= 2,
  };
}

export interface Loaded<T> {
  readonly data: T | undefined;
  readonly error: unknown;
  readonly loading: boolean;
  reload(): void;
}

/**
 * GETs `path` (nothing when null) and again when it changes, on reload(), and every `everyMs`
 * while the page is open. A refresh keeps the old data on screen until the new arrives.
 */
export function useApi<T>(path: string | null, everyMs?: number): Loaded<T> {
  const [state, setState] = useState<{ path: string | null; data?: T; error?: unknown; loading: boolean }>({
    path,
    loading: path !== null,
  });
  const [tick, setTick] = useState(0);
  const reload = useCallback(() => setTick((t) => t + 1), []);
  useEffect(() => {
    if (path === null) {
      setState({ path, loading: false });
      return;
    }
    let live = true;
    setState((s) => (s.path === path ? { ...s, loading: true } : { path, loading: true }));
    get<T>(path).then(
      (data) => live && setState({ path, data, loading: false }),
      (error: unknown) =>
        live &&
        setState((s) => ({ path, data: s.path === path ? s.data : undefined, error, loading: false })),
    );
    return () => {
      live = false;
    };
  }, [path, tick]);
  useEffect(() => {
    if (!everyMs || path === null) return;
    const t = setInterval(reload, everyMs);
    return () => clearInterval(t);
  }, [everyMs, path, reload]);
  const same = state.path === path;
  return {
    data: same ? state.data : undefined,
    error: same ? state.error : undefined,
    loading: !same || state.loading,
    reload,
  };
}

export function messageOf(error: unknown): string {
  if (error instanceof ApiError) return error.message;
  if (error instanceof Error) return error.message;
  return String(error);
}

export function ErrorBox({ error, title }: { error: unknown; title?: string }) {
  if (!error) return null;
  const fields = error instanceof ApiError ? (error.problem.errors ?? []) : [];
  return (
    <div className="error-box" role="alert">
      <strong>{title ?? 'Error'}:</strong> {messageOf(error)}
      {fields.length > 1 && (
        <ul>
          {fields.map((f) => (
            <li key={f.path + f.message}>
              <code>{f.path.replace(/^body\./, '')}</code> {f.message}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** The message of a field error from a 400/422 problem, for the field at `path` (e.g. "schedule.cron"). */
export function fieldError(error: unknown, path: string): string | undefined {
  if (!(error instanceof ApiError)) return undefined;
  const f = error.problem.errors?.find(
    (e) =>
      e.path.replace(/^body\./, '') === path ||
      e.path.replace(/^body\./, '').startsWith(`${path}.`) ||
      e.path.replace(/^body\./, '').startsWith(`${path}[`) ||
      e.path.replace(/^body\./, '').startsWith(`${path}/`),
  );
  if (f) return f.message;
  const detail = error.problem.detail ?? '';
  // "sources[1]: unknown option ..." belongs to the field sources.
  return detail.startsWith(`${path}:`) || detail.startsWith(`${path} `) || detail.startsWith(`${path}[`)
    ? detail
    : undefined;
}

export function Loading({ what }: { what?: string }) {
  return (
    <p className="muted loading" aria-live="polite">
      Loading{what ? ` ${what}` : ''}…
    </p>
  );
}

const STATE_LABEL: Record<RunState, string> = {
  queued: 'queued',
  running: 'running',
  success: 'success',
  warning: 'warning',
  failed: 'failed',
  canceled: 'canceled',
};

export function StateBadge({ state }: { state: string | null | undefined }) {
  if (!state) return <span className="badge">never run</span>;
  return (
    <span className={`badge state-${state}`}>
      <span aria-hidden="true" className="dot" />
      {STATE_LABEL[state as RunState] ?? state}
    </span>
  );
}

export function Card({
  title,
  actions,
  children,
  className,
  id,
}: {
  title?: ReactNode;
  actions?: ReactNode;
  children: ReactNode;
  className?: string;
  id?: string;
}) {
  const headingId = useId();
  return (
    <section className={`card ${className ?? ''}`} aria-labelledby={title ? headingId : undefined} id={id}>
      {(title || actions) && (
        <header className="card-head">
          {title && <h2 id={headingId}>{title}</h2>}
          {actions && <div className="card-actions">{actions}</div>}
        </header>
      )}
      {children}
    </section>
  );
}

export function Field({
  label,
  hint,
  error,
  children,
}: {
  label: string;
  hint?: ReactNode;
  error?: string | undefined;
  children: (id: string, describedBy: string | undefined) => ReactNode;
}) {
  const id = useId();
  const hintId = `${id}-hint`;
  const errId = `${id}-err`;
  const describedBy = [hint ? hintId : '', error ? errId : ''].filter(Boolean).join(' ') || undefined;
  return (
    <div className={`field${error ? ' has-error' : ''}`}>
      <label htmlFor={id}>{label}</label>
      {children(id, describedBy)}
      {hint && (
        <div className="hint" id={hintId}>
          {hint}
        </div>
      )}
      {error && (
        <div className="field-error" id={errId}>
          {error}
        </div>
      )}
    </div>
  );
}

export function PageTitle({ children, actions }: { children: ReactNode; actions?: ReactNode }) {
  const ref = useRef<HTMLHeadingElement>(null);
  useEffect(() => {
    const text = ref.current?.textContent;
    if (text) document.title = `${text} · Cairn`;
  });
  return (
    <div className="page-title">
      <h1 ref={ref} tabIndex={-1} id="page-title">
        {children}
      </h1>
      {actions && <div className="page-actions">{actions}</div>}
    </div>
  );
}

/** A short message that something worked (or what is happening), read out by screen readers. */
export function Notice({ children, kind = 'info' }: { children: ReactNode; kind?: 'info' | 'success' }) {
  return (
    <div className={`notice notice-${kind}`} role="status">
      {children}
    </div>
  );
}

export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}
