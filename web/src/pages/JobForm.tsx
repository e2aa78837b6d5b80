import { useEffect, useMemo, useState, type FormEvent } from 'react';
import {
  api,
  type Hook,
  type Job,
  type JobInput,
  type Level,
  type NamedScript,
  type Page,
  type Repository,
  type Retention,
  type Script,
} from '../api.ts';
import { describeCron, friendlyTime, relative } from '../format.ts';
import { Link, navigate } from '../router.tsx';
import {
  Card,
  ErrorBox,
  Field,
  fieldError,
  Loading,
  messageOf,
  PageTitle,
  useApi,
  useSession,
} from '../ui.tsx';
import { useNextRuns } from './JobPage.tsx';
import { commandLine, commandWords } from './Scripts.tsx';

const KEEP = [
  ['keepLast', 'Last', 'the newest N restore points'],
  ['keepHourly', 'Hourly', 'the last one of each of N hours'],
  ['keepDaily', 'Daily', 'the last one of each of N days'],
  ['keepWeekly', 'Weekly', 'the last one of each of N weeks'],
  ['keepMonthly', 'Monthly', 'the last one of each of N months'],
  ['keepYearly', 'Yearly', 'the last one of each of N years'],
] as const;

type KeepKey = (typeof KEEP)[number][0];

/** A program run before or after the backup as the form edits it: a named script or a command. */
interface Step {
  kind: 'script' | 'command';
  script: string;
  command: string;
  onError: '' | 'fail' | 'warn';
  /** Kept as the job has it (the form does not edit it). */
  timeoutSeconds?: number | undefined;
}

function stepOf(s: Script): Step {
  return {
    kind: s.script !== undefined ? 'script' : 'command',
    script: s.script ?? '',
    command:
      s.command === undefined ? '' : typeof s.command === 'string' ? s.command : commandLine(s.command),
    onError: s.onError ?? '',
    timeoutSeconds: s.timeoutSeconds,
  };
}

/** The steps as the API takes them; a step with nothing chosen is left out. */
function scriptsOf(steps: readonly Step[]): Script[] {
  const out: Script[] = [];
  for (const st of steps) {
    const extra = {
      ...(st.onError ? { onError: st.onError } : {}),
      ...(st.timeoutSeconds !== undefined ? { timeoutSeconds: st.timeoutSeconds } : {}),
    };
    if (st.kind === 'script' && st.script) out.push({ script: st.script, ...extra });
    else if (st.kind === 'command' && st.command.trim()) out.push({ command: st.command.trim(), ...extra });
  }
  return out;
}

/** When a hook is called: a run's start, end, success or failure, or the job being overdue. */
const EVENTS = ['start', 'end', 'success', 'failure', 'overdue'] as const;
type HookEvent = (typeof EVENTS)[number];

/** A hook as the form edits it: when it is called, and a named script, a command or a webhook. */
interface HookStep {
  on: HookEvent[];
  kind: 'script' | 'command' | 'webhook';
  script: string;
  /** The command as one line (commandLine), as the system administrator edits it. */
  command: string;
  webhook: string;
  /** Kept as the job has it (the form does not edit it). */
  timeoutSeconds?: number | undefined;
}

function hookStepOf(h: Hook): HookStep {
  return {
    on: EVENTS.filter((e) => h.on.includes(e)),
    kind: h.script !== undefined ? 'script' : h.webhook !== undefined ? 'webhook' : 'command',
    script: h.script ?? '',
    command: h.command ? commandLine(h.command) : '',
    webhook: h.webhook ?? '',
    timeoutSeconds: h.timeoutSeconds,
  };
}

/** The hooks as the API takes them (a hook with nothing chosen is left out); a string says what is wrong. */
function hooksOf(steps: readonly HookStep[]): Hook[] | string {
  const out: Hook[] = [];
  for (const [i, st] of steps.entries()) {
    const base = {
      on: [...st.on],
      ...(st.timeoutSeconds !== undefined ? { timeoutSeconds: st.timeoutSeconds } : {}),
    };
    if (st.kind === 'script' && st.script) out.push({ ...base, script: st.script });
    else if (st.kind === 'webhook' && st.webhook.trim()) out.push({ ...base, webhook: st.webhook.trim() });
    else if (st.kind === 'command' && st.command.trim()) {
      try {
        out.push({ ...base, command: commandWords(st.command) });
      } catch (err) {
        return `Hook ${i + 1}: the command cannot be split into words: ${err instanceof Error ? err.message : String(err)}`;
      }
    }
  }
  return out;
}

interface FormState {
  name: string;
  repository: string;
  sources: string;
  optionPlugins: string;
  level: Level;
  exclude: string;
  excludeCaches: boolean;
  oneFileSystem: boolean;
  tags: string;
  enabled: boolean;
  scheduled: boolean;
  cron: string;
  timezone: string;
  missed: 'run-once' | 'skip';
  keep: Record<KeepKey, string>;
  keepWithin: string;
  prune: boolean;
  retries: string;
  retryDelaySeconds: string;
  timeoutSeconds: string;
  runBefore: Step[];
  runAfter: Step[];
  hooks: HookStep[];
}

const localZone = (() => {
  try {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC';
  } catch {
    return 'UTC';
  }
})();

function emptyForm(): FormState {
  return {
    name: '',
    repository: '',
    sources: '',
    optionPlugins: '',
    level: 'incremental',
    exclude: '',
    excludeCaches: true,
    oneFileSystem: false,
    tags: '',
    enabled: true,
    scheduled: true,
    cron: '0 2 * * *',
    timezone: localZone,
    missed: 'run-once',
    keep: {
      keepLast: '',
      keepHourly: '',
      keepDaily: '7',
      keepWeekly: '4',
      keepMonthly: '12',
      keepYearly: '',
    },
    keepWithin: '',
    prune: true,
    retries: '',
    retryDelaySeconds: '',
    timeoutSeconds: '',
    runBefore: [],
    runAfter: [],
    hooks: [],
  };
}

function formOf(j: Job): FormState {
  const s = (n: number | undefined) => (n === undefined ? '' : String(n));
  const r = j.retention ?? {};
  return {
    name: j.name,
    repository: j.repository.id,
    sources: j.sources.join('\n'),
    optionPlugins: (j.optionPlugins ?? []).join('\n'),
    level: j.level ?? 'incremental',
    exclude: (j.exclude ?? []).join('\n'),
    excludeCaches: j.excludeCaches === true,
    oneFileSystem: j.oneFileSystem === true,
    tags: (j.tags ?? []).join(', '),
    enabled: j.enabled,
    scheduled: !!j.schedule,
    cron: j.schedule?.cron ?? '0 2 * * *',
    timezone: j.schedule?.timezone ?? 'UTC',
    missed: j.schedule?.missed ?? 'run-once',
    keep: {
      keepLast: s(r.keepLast),
      keepHourly: s(r.keepHourly),
      keepDaily: s(r.keepDaily),
      keepWeekly: s(r.keepWeekly),
      keepMonthly: s(r.keepMonthly),
      keepYearly: s(r.keepYearly),
    },
    keepWithin: r.keepWithin ?? '',
    prune: r.prune === true,
    retries: s(j.limits?.retries),
    retryDelaySeconds: s(j.limits?.retryDelaySeconds),
    timeoutSeconds: s(j.limits?.timeoutSeconds),
    runBefore: (j.runBefore ?? []).map(stepOf),
    runAfter: (j.runAfter ?? []).map(stepOf),
    hooks: (j.hooks ?? []).map(hookStepOf),
  };
}

const lines = (s: string) =>
  s
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);

function inputOf(f: FormState, hooks: readonly Hook[]): JobInput {
  const int = (s: string) => (s.trim() === '' ? undefined : Number(s));
  const retention: Retention = {};
  for (const [k] of KEEP) {
    const v = int(f.keep[k]);
    if (v !== undefined) retention[k] = v;
  }
  if (f.keepWithin.trim()) retention.keepWithin = f.keepWithin.trim();
  if (f.prune) retention.prune = true;
  const limits = {
    ...(int(f.retries) !== undefined ? { retries: int(f.retries)! } : {}),
    ...(int(f.retryDelaySeconds) !== undefined ? { retryDelaySeconds: int(f.retryDelaySeconds)! } : {}),
    ...(int(f.timeoutSeconds) !== undefined ? { timeoutSeconds: int(f.timeoutSeconds)! } : {}),
  };
  const tags = f.tags
    .split(',')
    .map((t) => t.trim())
    .filter(Boolean);
  return {
    name: f.name.trim(),
    repository: f.repository,
    sources: lines(f.sources),
    ...(lines(f.optionPlugins).length ? { optionPlugins: lines(f.optionPlugins) } : {}),
    level: f.level,
    exclude: lines(f.exclude),
    excludeCaches: f.excludeCaches,
    oneFileSystem: f.oneFileSystem,
    ...(tags.length ? { tags } : {}),
    schedule: f.scheduled
      ? {
          cron: f.cron.trim(),
          ...(f.timezone.trim() ? { timezone: f.timezone.trim() } : {}),
          missed: f.missed,
        }
      : null,
    retention,
    ...(Object.keys(limits).length ? { limits } : {}),
    ...(hooks.length ? { hooks: [...hooks] } : {}),
    ...(scriptsOf(f.runBefore).length ? { runBefore: scriptsOf(f.runBefore) } : {}),
    ...(scriptsOf(f.runAfter).length ? { runAfter: scriptsOf(f.runAfter) } : {}),
    enabled: f.enabled,
  };
}

const PRESETS: [string, string][] = [
  ['Every hour', '0 * * * *'],
  ['Daily at 02:00', '0 2 * * *'],
  ['Weekdays at 22:00', '0 22 * * 1-5'],
  ['Sundays at 03:00', '0 3 * * 0'],
];

export function JobForm({ id }: { id?: string | undefined }) {
  const existing = useApi<Job>(id ? `jobs/${id}` : null);
  const repos = useApi<Page<Repository>>('repositories?limit=500');
  const scripts = useApi<{ data: NamedScript[] }>('scripts');
  const { session } = useSession();
  const [form, setForm] = useState<FormState>();
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    if (id && existing.data && !form) setForm(formOf(existing.data));
    if (!id && !form && repos.data) setForm({ ...emptyForm(), repository: repos.data.data[0]?.id ?? '' });
  }, [id, existing.data, repos.data, form]);

  const schedule = useMemo(
    () =>
      form?.scheduled && form.cron.trim()
        ? { cron: form.cron.trim(), ...(form.timezone.trim() ? { timezone: form.timezone.trim() } : {}) }
        : null,
    [form?.scheduled, form?.cron, form?.timezone],
  );
  const preview = useNextRuns(schedule, 5);
  const zones = useMemo(() => {
    try {
      return Intl.supportedValuesOf('timeZone');
    } catch {
      return ['UTC'];
    }
  }, []);

  const title = id ? `Edit job ${existing.data?.name ?? ''}` : 'New job';
  if (!form)
    return (
      <>
        <PageTitle>{title}</PageTitle>
        <ErrorBox error={existing.error ?? repos.error} />
        {!existing.error && !repos.error && <Loading />}
      </>
    );

  const set = <K extends keyof FormState>(k: K, v: FormState[K]) => setForm({ ...form, [k]: v });
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const hooks = hooksOf(form.hooks);
    if (typeof hooks === 'string') {
      setError(new Error(hooks));
      window.scrollTo(0, 0);
      return;
    }
    setBusy(true);
    setError(undefined);
    const body = inputOf(form, hooks);
    const call = id ? api<Job>('PUT', `jobs/${id}`, body) : api<Job>('POST', 'jobs', body);
    call.then(
      (job) => navigate(`/jobs/${job.id}`),
      (err: unknown) => {
        setError(err);
        setBusy(false);
        window.scrollTo(0, 0);
      },
    );
  };
  const fe = (path: string) => fieldError(error, path);
  const readable = schedule ? describeCron(schedule.cron) : undefined;

  return (
    <>
      <PageTitle>{title}</PageTitle>
      <ErrorBox error={error} title="Cannot save the job" />
      <form onSubmit={submit} className="job-form" noValidate>
        <div className="grid">
          <Card title="What and where" className="span-2">
            <Field label="Name" error={fe('name')} hint="Letters, digits, dot, dash and underscore.">
              {(fid, d) => (
                <input
                  id={fid}
                  aria-describedby={d}
                  required
                  pattern="[A-Za-z0-9][A-Za-z0-9._\-]*"
                  value={form.name}
                  onChange={(e) => set('name', e.target.value)}
                />
              )}
            </Field>
            <Field label="Repository" error={fe('repository')}>
              {(fid, d) => (
                <select
                  id={fid}
                  aria-describedby={d}
                  value={form.repository}
                  onChange={(e) => set('repository', e.target.value)}
                >
                  {repos.data?.data.map((r) => (
                    <option key={r.id} value={r.id}>
                      {r.name}
                      {r.location ? ` (${r.location})` : ''}
                    </option>
                  ))}
                </select>
              )}
            </Field>
            <Field
              label="Sources"
              error={fe('sources')}
              hint="Absolute paths on the server, or plugin directives such as bpipe:file=/db.sql:reader=pg_dump db, one a line."
            >
              {(fid, d) => (
                <textarea
                  id={fid}
                  aria-describedby={d}
                  rows={4}
                  required
                  className="mono"
                  value={form.sources}
                  placeholder={'/etc\n/home\nbpipe:file=/PG/db.sql:reader=pg_dump db:writer=psql db'}
                  onChange={(e) => set('sources', e.target.value)}
                />
              )}
            </Field>
            <Field
              label="Level"
              error={fe('level')}
              hint="Full reads every file again and has plugins back up in full; the first backup of new sources is always full."
            >
              {(fid, d) => (
                <select
                  id={fid}
                  aria-describedby={d}
                  value={form.level}
                  onChange={(e) => set('level', e.target.value as Level)}
                >
                  <option value="incremental">incremental</option>
                  <option value="differential">differential</option>
                  <option value="full">full</option>
                </select>
              )}
            </Field>
            <Field
              label="Option plugins"
              error={fe('optionPlugins')}
              hint="Directives called for each file, such as maxsize:size=1G, one a line."
            >
              {(fid, d) => (
                <textarea
                  id={fid}
                  aria-describedby={d}
                  rows={2}
                  className="mono"
                  value={form.optionPlugins}
                  onChange={(e) => set('optionPlugins', e.target.value)}
                />
              )}
            </Field>
            <Field
              label="Exclude"
              error={fe('exclude')}
              hint="Patterns such as *.tmp or /home/*/.cache, one a line."
            >
              {(fid, d) => (
                <textarea
                  id={fid}
                  aria-describedby={d}
                  rows={3}
                  value={form.exclude}
                  onChange={(e) => set('exclude', e.target.value)}
                />
              )}
            </Field>
            <div className="checks">
              <label>
                <input
                  type="checkbox"
                  checked={form.excludeCaches}
                  onChange={(e) => set('excludeCaches', e.target.checked)}
                />{' '}
                Skip cache folders (with a CACHEDIR.TAG)
              </label>
              <label>
                <input
                  type="checkbox"
                  checked={form.oneFileSystem}
                  onChange={(e) => set('oneFileSystem', e.target.checked)}
                />{' '}
                Stay on one file system
              </label>
              <label>
                <input
                  type="checkbox"
                  checked={form.enabled}
                  onChange={(e) => set('enabled', e.target.checked)}
                />{' '}
                Enabled (runs on its schedule)
              </label>
            </div>
            <Field label="Tags" error={fe('tags')} hint="Comma-separated, added to every restore point.">
              {(fid, d) => (
                <input
                  id={fid}
                  aria-describedby={d}
                  value={form.tags}
                  onChange={(e) => set('tags', e.target.value)}
                />
              )}
            </Field>
          </Card>

          <Card title="Schedule">
            <label className="check-line">
              <input
                type="checkbox"
                checked={form.scheduled}
                onChange={(e) => set('scheduled', e.target.checked)}
              />{' '}
              Run on a schedule
            </label>
            {form.scheduled && (
              <>
                <div className="presets" role="group" aria-label="Common schedules">
                  {PRESETS.map(([label, cron]) => (
                    <button
                      type="button"
                      key={cron}
                      className={`small${form.cron === cron ? ' selected' : ''}`}
                      aria-pressed={form.cron === cron}
                      onClick={() => set('cron', cron)}
                    >
                      {label}
                    </button>
                  ))}
                </div>
                <Field
                  label="Cron expression"
                  error={fe('schedule.cron') ?? (preview.error ? messageOf(preview.error) : undefined)}
                  hint="minute hour day-of-month month day-of-week, e.g. 30 1 * * * for 01:30 every day"
                >
                  {(fid, d) => (
                    <input
                      id={fid}
                      aria-describedby={d}
                      className="mono"
                      value={form.cron}
                      onChange={(e) => set('cron', e.target.value)}
                    />
                  )}
                </Field>
                <Field label="Time zone" error={fe('schedule.timezone')}>
                  {(fid, d) => (
                    <>
                      <input
                        id={fid}
                        aria-describedby={d}
                        list="tz-list"
                        value={form.timezone}
                        onChange={(e) => set('timezone', e.target.value)}
                      />
                      <datalist id="tz-list">
                        {zones.map((z) => (
                          <option key={z} value={z} />
                        ))}
                      </datalist>
                    </>
                  )}
                </Field>
                <Field label="After the server was down">
                  {(fid) => (
                    <select
                      id={fid}
                      value={form.missed}
                      onChange={(e) => set('missed', e.target.value as FormState['missed'])}
                    >
                      <option value="run-once">run a missed time once</option>
                      <option value="skip">skip missed times</option>
                    </select>
                  )}
                </Field>
                <div className="preview" aria-live="polite">
                  {readable && (
                    <p>
                      Runs <strong>{readable}</strong>
                      {form.timezone ? ` (${form.timezone})` : ''}.
                    </p>
                  )}
                  {preview.runs && !preview.error && (
                    <>
                      <p className="muted">Next runs:</p>
                      <ol className="plain next-list">
                        {preview.runs.map((r) => (
                          <li key={r}>
                            {friendlyTime(r)} <span className="muted">({relative(r)})</span>
                          </li>
                        ))}
                      </ol>
                    </>
                  )}
                </div>
              </>
            )}
          </Card>

          <Card title="Retention" className="span-2">
            <p className="muted">
              After each successful backup, keep these of the job’s restore points and forget the rest. Leave
              all empty to keep every one.
            </p>
            <div className="keep-grid">
              {KEEP.map(([k, label, hint]) => (
                <Field key={k} label={label} hint={hint} error={fe(`retention.${k}`)}>
                  {(fid, d) => (
                    <input
                      id={fid}
                      aria-describedby={d}
                      type="number"
                      min={0}
                      inputMode="numeric"
                      value={form.keep[k]}
                      onChange={(e) => set('keep', { ...form.keep, [k]: e.target.value })}
                    />
                  )}
                </Field>
              ))}
              <Field label="Within" hint="all from the last 30d, 1y6m…" error={fe('retention.keepWithin')}>
                {(fid, d) => (
                  <input
                    id={fid}
                    aria-describedby={d}
                    value={form.keepWithin}
                    onChange={(e) => set('keepWithin', e.target.value)}
                  />
                )}
              </Field>
            </div>
            <label className="check-line">
              <input type="checkbox" checked={form.prune} onChange={(e) => set('prune', e.target.checked)} />{' '}
              Free the space of forgotten restore points at once (prune)
            </label>
          </Card>

          <Card title="Retries and time limit">
            <Field
              label="Retries"
              hint="a failed run is queued again this many times"
              error={fe('limits.retries')}
            >
              {(fid, d) => (
                <input
                  id={fid}
                  aria-describedby={d}
                  type="number"
                  min={0}
                  max={10}
                  value={form.retries}
                  onChange={(e) => set('retries', e.target.value)}
                />
              )}
            </Field>
            <Field
              label="First retry after (seconds)"
              hint="doubles with each attempt"
              error={fe('limits.retryDelaySeconds')}
            >
              {(fid, d) => (
                <input
                  id={fid}
                  aria-describedby={d}
                  type="number"
                  min={1}
                  value={form.retryDelaySeconds}
                  onChange={(e) => set('retryDelaySeconds', e.target.value)}
                />
              )}
            </Field>
            <Field
              label="Time limit (seconds)"
              hint="a longer run is stopped and fails"
              error={fe('limits.timeoutSeconds')}
            >
              {(fid, d) => (
                <input
                  id={fid}
                  aria-describedby={d}
                  type="number"
                  min={1}
                  value={form.timeoutSeconds}
                  onChange={(e) => set('timeoutSeconds', e.target.value)}
                />
              )}
            </Field>
          </Card>

          <Card title="Before and after the backup, and hooks" className="span-3">
            <ErrorBox error={scripts.error} title="Cannot list the scripts" />
            {(['runBefore', 'runAfter'] as const).map((k) => (
              <StepsEditor
                key={k}
                field={k}
                steps={form[k]}
                onChange={(steps) => set(k, steps)}
                scripts={scripts.data?.data ?? []}
                commands={session.user.systemAdmin}
                error={error}
              />
            ))}
            <HooksEditor
              hooks={form.hooks}
              onChange={(hooks) => set('hooks', hooks)}
              scripts={scripts.data?.data ?? []}
              commands={session.user.systemAdmin}
              error={error}
            />
          </Card>
        </div>
        <div className="form-actions">
          <button type="submit" className="primary" disabled={busy}>
            {busy ? 'Saving…' : id ? 'Save the job' : 'Create the job'}
          </button>
          <Link className="button ghost" to={id ? `/jobs/${id}` : '/jobs'}>
            Cancel
          </Link>
        </div>
      </form>
    </>
  );
}

function StepsEditor({
  field,
  steps,
  onChange,
  scripts,
  commands,
  error,
}: {
  field: 'runBefore' | 'runAfter';
  steps: Step[];
  onChange: (steps: Step[]) => void;
  scripts: readonly NamedScript[];
  /** Offer commands (system administrators); others may only name scripts. */
  commands: boolean;
  error: unknown;
}) {
  const before = field === 'runBefore';
  const label = before ? 'Run before the backup' : 'Run after the backup';
  const change = (i: number, st: Partial<Step>) =>
    onChange(steps.map((old, j) => (j === i ? { ...old, ...st } : old)));
  const canAdd = commands || scripts.length > 0;
  return (
    <fieldset>
      <legend>{label}</legend>
      {steps.length === 0 && (
        <p className="muted">
          Nothing.
          {!canAdd && ' No scripts are granted to this tenant; the system administrator defines them.'}
        </p>
      )}
      {steps.map((st, i) => {
        const n = i + 1;
        const err = fieldError(error, `${field}[${i}]`) ?? fieldError(error, `${field}/${i}`);
        return (
          <div key={i} className={`inline-form step${err ? ' has-error' : ''}`}>
            {commands && (
              <select
                aria-label={`${label}, step ${n}: kind`}
                value={st.kind}
                onChange={(e) => change(i, { kind: e.target.value as Step['kind'] })}
              >
                <option value="script">named script</option>
                <option value="command">command</option>
              </select>
            )}
            {st.kind === 'script' ? (
              <ScriptSelect
                label={`${label}, step ${n}: script`}
                value={st.script}
                scripts={scripts}
                onChange={(script) => change(i, { script })}
              />
            ) : commands ? (
              <input
                aria-label={`${label}, step ${n}: command`}
                className="mono"
                placeholder="/usr/local/bin/dump-db --quiet"
                value={st.command}
                onChange={(e) => change(i, { command: e.target.value })}
              />
            ) : (
              <span className="muted">
                a command only the system administrator may change: <code>{st.command}</code>
              </span>
            )}
            <select
              aria-label={`${label}, step ${n}: when it fails`}
              value={st.onError}
              onChange={(e) => change(i, { onError: e.target.value as Step['onError'] })}
            >
              <option value="">{before ? 'on error: fail the run' : 'on error: warn'} (default)</option>
              <option value="fail">on error: fail the run</option>
              <option value="warn">on error: warn</option>
            </select>
            <button
              type="button"
              className="small danger ghost"
              aria-label={`${label}: remove step ${n}`}
              onClick={() => onChange(steps.filter((_, j) => j !== i))}
            >
              Remove
            </button>
            {err && <div className="field-error">{err}</div>}
          </div>
        );
      })}
      {canAdd && (
        <button
          type="button"
          className="small"
          onClick={() =>
            onChange([
              ...steps,
              {
                kind: scripts.length > 0 || !commands ? 'script' : 'command',
                script: '',
                command: '',
                onError: '',
              },
            ])
          }
        >
          {before ? 'Add a step before' : 'Add a step after'}
        </button>
      )}
    </fieldset>
  );
}

const EVENT_WORDS: Record<HookEvent, string> = {
  start: 'when the run starts',
  end: 'when it ends',
  success: 'when it succeeds',
  failure: 'when it fails',
  overdue: 'when the job is overdue',
};

/**
 * Hooks: a named script, a webhook or (system administrators) a command, called when a run
 * starts, ends, succeeds or fails, or when the job is overdue, with the run in CAIRN_* variables
 * or the webhook's JSON.
 */
function HooksEditor({
  hooks,
  onChange,
  scripts,
  commands,
  error,
}: {
  hooks: HookStep[];
  onChange: (hooks: HookStep[]) => void;
  scripts: readonly NamedScript[];
  /** Offer commands (system administrators); others name scripts or call webhooks. */
  commands: boolean;
  error: unknown;
}) {
  const change = (i: number, h: Partial<HookStep>) =>
    onChange(hooks.map((old, j) => (j === i ? { ...old, ...h } : old)));
  return (
    <fieldset>
      <legend>Hooks</legend>
      {hooks.length === 0 && (
        <p className="muted">
          None. A hook calls a named script{commands ? ', a command' : ''} or a webhook when a run starts,
          ends, succeeds or fails, or when the job is overdue (no successful run within its expected
          interval).
        </p>
      )}
      {hooks.map((h, i) => {
        const n = i + 1;
        const err = fieldError(error, `hooks[${i}]`) ?? fieldError(error, `hooks/${i}`);
        return (
          <div key={i} className={`inline-form step hook${err ? ' has-error' : ''}`}>
            <div className="hook-events" role="group" aria-label={`Hook ${n}: when`}>
              {EVENTS.map((e) => (
                <label key={e}>
                  <input
                    type="checkbox"
                    aria-label={`Hook ${n}: ${EVENT_WORDS[e]}`}
                    checked={h.on.includes(e)}
                    onChange={(ev) =>
                      change(i, {
                        on: EVENTS.filter((x) => (x === e ? ev.target.checked : h.on.includes(x))),
                      })
                    }
                  />{' '}
                  {e}
                </label>
              ))}
            </div>
            <select
              aria-label={`Hook ${n}: kind`}
              value={h.kind}
              onChange={(e) => change(i, { kind: e.target.value as HookStep['kind'] })}
            >
              <option value="script">named script</option>
              <option value="webhook">webhook</option>
              {(commands || h.kind === 'command') && <option value="command">command</option>}
            </select>
            {h.kind === 'script' ? (
              <ScriptSelect
                label={`Hook ${n}: script`}
                value={h.script}
                scripts={scripts}
                onChange={(script) => change(i, { script })}
              />
            ) : h.kind === 'webhook' ? (
              <input
                aria-label={`Hook ${n}: webhook`}
                className="mono"
                type="url"
                placeholder="https://hooks.example.com/cairn"
                value={h.webhook}
                onChange={(e) => change(i, { webhook: e.target.value })}
              />
            ) : commands ? (
              <input
                aria-label={`Hook ${n}: command`}
                className="mono"
                placeholder="/usr/local/bin/notify --run"
                value={h.command}
                onChange={(e) => change(i, { command: e.target.value })}
              />
            ) : (
              <span className="muted">
                a command only the system administrator may change: <code>{h.command}</code>
              </span>
            )}
            <button
              type="button"
              className="small danger ghost"
              aria-label={`Remove hook ${n}`}
              onClick={() => onChange(hooks.filter((_, j) => j !== i))}
            >
              Remove
            </button>
            {err && <div className="field-error">{err}</div>}
          </div>
        );
      })}
      <button
        type="button"
        className="small"
        onClick={() =>
          onChange([
            ...hooks,
            {
              on: ['end'],
              kind: scripts.length > 0 ? 'script' : commands ? 'command' : 'webhook',
              script: '',
              command: '',
              webhook: '',
            },
          ])
        }
      >
        Add a hook
      </button>
    </fieldset>
  );
}

/** One of the named scripts the caller may use; one no longer granted stays shown, marked. */
function ScriptSelect({
  label,
  value,
  scripts,
  onChange,
}: {
  label: string;
  value: string;
  scripts: readonly NamedScript[];
  onChange: (script: string) => void;
}) {
  return (
    <select aria-label={label} value={value} onChange={(e) => onChange(e.target.value)}>
      <option value="">choose a script…</option>
      {value && !scripts.some((sc) => sc.name === value) && (
        <option value={value}>{value} (not available)</option>
      )}
      {scripts.map((sc) => (
        <option key={sc.id} value={sc.name}>
          {sc.name}
          {sc.description ? ` – ${sc.description}` : ''}
        </option>
      ))}
    </select>
  );
}
