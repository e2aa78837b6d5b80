/**
 * Tenants, for the system administrator: each tenant's quota and measured usage, its source and
 * restore roots, its runs at once and bandwidth; provisioning a new one (whose first administrator's
 * password is shown once); changing quota, roots and limits; deleting a tenant that has no
 * repositories left; the recycle bins of protected tenants (give a restore point back, purge one).
 */
import { useState, type FormEvent } from 'react';
import { api, hasLink, type ProvisionedTenant, type RecycledPoint, type Tenant } from '../api.ts';
import { bytes, dateTime, percent } from '../format.ts';
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

const MIB = 2 ** 20;
const GIB = 2 ** 30;
type Unit = 'GiB' | 'MiB';

const lines = (s: string) =>
  s
    .split('\n')
    .map((l) => l.trim())
    .filter(Boolean);

/** The quota as the form shows it: whole GiB when it is, else MiB. */
function quotaFields(q: number | null): { amount: string; unit: Unit } {
  if (q === null) return { amount: '', unit: 'GiB' };
  if (q % GIB === 0) return { amount: String(q / GIB), unit: 'GiB' };
  return { amount: String(Math.round((q / MIB) * 100) / 100), unit: 'MiB' };
}

/** Bytes from the form's amount and unit; null (no limit) when empty, undefined when not a number. */
function quotaBytes(amount: string, unit: Unit): number | null | undefined {
  if (amount.trim() === '') return null;
  const n = Number(amount);
  if (!Number.isFinite(n) || n < 0) return undefined;
  return Math.round(n * (unit === 'GiB' ? GIB : MIB));
}

/** A rate in MiB a second as the form shows it (at most two decimals); empty: no limit. */
function rateField(bytesPerSecond: number | null): string {
  return bytesPerSecond === null ? '' : String(Math.round((bytesPerSecond / MIB) * 100) / 100);
}

/** Bytes a second from MiB a second; null when empty, undefined when not a number. */
function rateBytes(amount: string): number | null | undefined {
  if (amount.trim() === '') return null;
  const n = Number(amount);
  if (!Number.isFinite(n) || n <= 0) return undefined;
  return Math.round(n * MIB);
}

function binary(n: number): string {
  if (n >= 1024 * GIB) return `${(n / 1024 / GIB).toFixed(2)} TiB`;
  if (n >= GIB) return `${(n / GIB).toFixed(n % GIB === 0 ? 0 : 1)} GiB`;
  return `${(n / MIB).toFixed(n % MIB === 0 ? 0 : 1)} MiB`;
}

export function Tenants() {
  const { session } = useSession();
  const sys = session.user.systemAdmin;
  const tenants = useApi<{ data: Tenant[] }>(sys ? 'tenants' : null);
  const [error, setError] = useState<unknown>();
  const [notice, setNotice] = useState<string>();
  const [made, setMade] = useState<ProvisionedTenant>();
  if (!sys)
    return (
      <>
        <PageTitle>Tenants</PageTitle>
        <p>Only the system administrator manages tenants.</p>
      </>
    );
  return (
    <>
      <PageTitle>Tenants</PageTitle>
      <ErrorBox error={error ?? tenants.error} />
      {notice && <Notice kind="success">{notice}</Notice>}
      {made?.admin && <OneTimePassword tenant={made} onDone={() => setMade(undefined)} />}
      {!tenants.data && !tenants.error && <Loading />}
      {tenants.data && tenants.data.data.length === 0 && <Empty>No tenants yet.</Empty>}
      <div className="grid repos">
        {tenants.data?.data.map((t) => (
          <TenantCard
            key={t.id}
            tenant={t}
            own={t.id === session.tenant.id}
            onChanged={() => {
              setNotice(`Tenant ${t.name} changed.`);
              tenants.reload();
            }}
            onDelete={() => {
              if (
                !window.confirm(
                  `Delete tenant ${t.name} with its users, jobs and runs? It must have no repositories left.`,
                )
              )
                return;
              setError(undefined);
              setNotice(undefined);
              api('DELETE', `tenants/${t.id}`).then(
                () => {
                  setNotice(`Tenant ${t.name} deleted.`);
                  tenants.reload();
                },
                (err: unknown) => setError(err),
              );
            }}
          />
        ))}
      </div>
      <RecycleBin />
      <NewTenant
        onCreated={(t) => {
          setError(undefined);
          setNotice(
            `Tenant ${t.name} created${t.repository ? ` with the repository ${t.repository.name}` : ''}.`,
          );
          setMade(t);
          tenants.reload();
        }}
      />
    </>
  );
}

/** The first administrator's log-on name and password: the server shows the password this once. */
function OneTimePassword({ tenant, onDone }: { tenant: ProvisionedTenant; onDone: () => void }) {
  const admin = tenant.admin!;
  const [copied, setCopied] = useState<string>();
  const copy = () => {
    navigator.clipboard.writeText(admin.password).then(
      () => setCopied('Copied to the clipboard.'),
      () => setCopied('The browser refused the clipboard: select the password and copy it.'),
    );
  };
  return (
    <Card title={`Administrator of tenant ${tenant.name}`} className="one-time">
      <p>
        <strong>Write this password down now: it is shown this once and kept nowhere.</strong> Give it to the
        tenant’s administrator, who logs on with it and should change it.
      </p>
      <dl className="facts compact">
        <dt>Log-on name</dt>
        <dd>
          <code data-testid="tenant-admin-logon">{admin.logon}</code>
        </dd>
        <dt>Password</dt>
        <dd>
          <code data-testid="tenant-admin-password" className="secret">
            {admin.password}
          </code>{' '}
          <button type="button" className="small" onClick={copy}>
            Copy the password
          </button>{' '}
          {copied && (
            <span className="muted" role="status">
              {copied}
            </span>
          )}
        </dd>
      </dl>
      <button type="button" onClick={onDone}>
        I have written it down
      </button>
    </Card>
  );
}

function TenantCard({
  tenant: t,
  own,
  onChanged,
  onDelete,
}: {
  tenant: Tenant;
  own: boolean;
  onChanged: () => void;
  onDelete: () => void;
}) {
  const [editing, setEditing] = useState(false);
  return (
    <Card
      title={t.name}
      actions={
        <>
          {hasLink(t, 'edit') && (
            <button
              type="button"
              className="small"
              aria-expanded={editing}
              aria-label={`Edit tenant ${t.name}`}
              onClick={() => setEditing(!editing)}
            >
              {editing ? 'Close' : 'Edit'}
            </button>
          )}
          {hasLink(t, 'delete') && !own && (
            <button
              type="button"
              className="small danger ghost"
              onClick={onDelete}
              aria-label={`Delete tenant ${t.name}`}
            >
              Delete
            </button>
          )}
        </>
      }
    >
      <dl className="facts compact">
        <dt>Quota</dt>
        <dd>{t.quotaBytes === null ? 'no limit' : binary(t.quotaBytes)}</dd>
        <dt>Used</dt>
        <dd>
          {t.usageBytes === null ? <span className="muted">not measured yet</span> : bytes(t.usageBytes)}
        </dd>
        <dt>Storage</dt>
        <dd className="path">
          {t.storageRoot ? <code>{t.storageRoot}</code> : <span className="muted">places of its own</span>}
        </dd>
        <dt>Source roots</dt>
        <dd className="path">{rootList(t.sourceRoots)}</dd>
        <dt>Restore roots</dt>
        <dd className="path">{rootList(t.restoreRoots)}</dd>
        {t.webhookAllow.length > 0 && (
          <>
            <dt>Webhooks to</dt>
            <dd className="path">{rootList(t.webhookAllow)}</dd>
          </>
        )}
        <dt>Runs at once</dt>
        <dd>{t.maxRuns ?? <span className="muted">no limit of its own</span>}</dd>
        <dt>Bandwidth</dt>
        <dd>
          {t.bandwidthBytesPerSecond === null ? (
            <span className="muted">no limit</span>
          ) : (
            `${rateField(t.bandwidthBytesPerSecond)} MiB/s`
          )}
        </dd>
        <dt>Protection</dt>
        <dd>{t.protectionDays} days</dd>
        <dt>Created</dt>
        <dd>{dateTime(t.createdAt)}</dd>
      </dl>
      {t.quotaBytes !== null && t.usageBytes !== null && (
        <QuotaBar used={t.usageBytes} quota={t.quotaBytes} />
      )}
      {editing && (
        <EditTenant
          tenant={t}
          onSaved={() => {
            setEditing(false);
            onChanged();
          }}
        />
      )}
    </Card>
  );
}

function rootList(roots: readonly string[]) {
  if (roots.length === 0) return <span className="muted">none</span>;
  return roots.map((r) => (
    <div key={r}>
      <code>{r}</code>
    </div>
  ));
}

function QuotaBar({ used, quota }: { used: number; quota: number }) {
  const share = quota > 0 ? Math.min(1, used / quota) : 1;
  return (
    <div className="usage">
      <div
        className="usage-track"
        role="meter"
        aria-label="Quota used"
        aria-valuemin={0}
        aria-valuemax={100}
        aria-valuenow={Math.round(share * 100)}
        aria-valuetext={`${percent(share)} of ${binary(quota)} used`}
      >
        <span className="usage-own" style={{ width: `${share * 100}%` }} />
      </div>
      <p className="usage-legend">
        <span>
          {bytes(used)} of {binary(quota)} ({percent(quota > 0 ? used / quota : 1)})
        </span>
      </p>
    </div>
  );
}

interface Settings {
  storageRoot: string;
  amount: string;
  unit: Unit;
  sourceRoots: string;
  restoreRoots: string;
  webhookAllow: string;
  maxRuns: string;
  bandwidth: string;
  protectionDays: string;
}

function settingsOf(t: Tenant | undefined): Settings {
  return {
    storageRoot: t?.storageRoot ?? '',
    ...quotaFields(t?.quotaBytes ?? null),
    sourceRoots: (t?.sourceRoots ?? []).join('\n'),
    restoreRoots: (t?.restoreRoots ?? []).join('\n'),
    webhookAllow: (t?.webhookAllow ?? []).join('\n'),
    maxRuns: t && t.maxRuns !== null ? String(t.maxRuns) : '',
    bandwidth: rateField(t?.bandwidthBytesPerSecond ?? null),
    protectionDays: t ? String(t.protectionDays) : '',
  };
}

/**
 * The body shared by POST and PATCH; a string when the quota is not a number. The storage root is
 * sent when given (new tenant: empty is the server's default) or changed (empty: none).
 */
function bodyOf(s: Settings, was?: Tenant): Record<string, unknown> | string {
  const quota = quotaBytes(s.amount, s.unit);
  if (quota === undefined) return `Quota: "${s.amount}" is not a number of ${s.unit}`;
  const bandwidth = rateBytes(s.bandwidth);
  if (bandwidth === undefined) return `Bandwidth: "${s.bandwidth}" is not a number of MiB a second`;
  const root = s.storageRoot.trim();
  return {
    ...(was
      ? root !== (was.storageRoot ?? '')
        ? { storageRoot: root || null }
        : {}
      : root
        ? { storageRoot: root }
        : {}),
    quotaBytes: quota,
    sourceRoots: lines(s.sourceRoots),
    restoreRoots: lines(s.restoreRoots),
    webhookAllow: lines(s.webhookAllow),
    maxRuns: s.maxRuns.trim() === '' ? null : Number(s.maxRuns),
    bandwidthBytesPerSecond: bandwidth,
    ...(s.protectionDays.trim() ? { protectionDays: Number(s.protectionDays) } : {}),
  };
}

function SettingsFields({
  value: s,
  onChange,
  error,
  editing = false,
}: {
  value: Settings;
  onChange: (s: Settings) => void;
  error: unknown;
  editing?: boolean;
}) {
  const set = <K extends keyof Settings>(k: K, v: Settings[K]) => onChange({ ...s, [k]: v });
  return (
    <>
      <Field
        label="Storage root"
        hint={
          editing
            ? 'Where its repositories are made: a folder or s3:http(s)://HOST/BUCKET/PREFIX; empty: none. Changes only while it has no repositories.'
            : "Where its repositories are made: a folder or s3:http(s)://HOST/BUCKET/PREFIX; empty: tenants/NAME in the server's data folder."
        }
        error={fieldError(error, 'storageRoot')}
      >
        {(id, d) => (
          <input
            id={id}
            aria-describedby={d}
            className="mono"
            value={s.storageRoot}
            onChange={(e) => set('storageRoot', e.target.value)}
          />
        )}
      </Field>
      <Field
        label="Quota"
        hint="What all its repositories may hold after deduplication and compression; empty: no limit."
        error={fieldError(error, 'quotaBytes')}
      >
        {(id, d) => (
          <div className="inline-form">
            <input
              id={id}
              aria-describedby={d}
              type="number"
              min={0}
              step="any"
              inputMode="decimal"
              value={s.amount}
              onChange={(e) => set('amount', e.target.value)}
            />
            <select
              aria-label="Quota unit"
              value={s.unit}
              onChange={(e) => set('unit', e.target.value as Unit)}
            >
              <option value="GiB">GiB</option>
              <option value="MiB">MiB</option>
            </select>
          </div>
        )}
      </Field>
      <Field
        label="Source roots"
        hint="Folders of this server its jobs may back up, one a line; none: it backs up nothing of this server."
        error={fieldError(error, 'sourceRoots')}
      >
        {(id, d) => (
          <textarea
            id={id}
            aria-describedby={d}
            rows={2}
            className="mono"
            placeholder="/srv/customers/acme"
            value={s.sourceRoots}
            onChange={(e) => set('sourceRoots', e.target.value)}
          />
        )}
      </Field>
      <Field
        label="Restore roots"
        hint="Folders of this server its restores may write into, one a line."
        error={fieldError(error, 'restoreRoots')}
      >
        {(id, d) => (
          <textarea
            id={id}
            aria-describedby={d}
            rows={2}
            className="mono"
            value={s.restoreRoots}
            onChange={(e) => set('restoreRoots', e.target.value)}
          />
        )}
      </Field>
      <Field
        label="Webhook allow-list"
        hint="URL prefixes its jobs' webhooks may call, one a line (https://hooks.example.com/)."
        error={fieldError(error, 'webhookAllow')}
      >
        {(id, d) => (
          <textarea
            id={id}
            aria-describedby={d}
            rows={2}
            className="mono"
            value={s.webhookAllow}
            onChange={(e) => set('webhookAllow', e.target.value)}
          />
        )}
      </Field>
      <Field
        label="Runs at once"
        hint="Its backups and restores running at the same time; more wait in the queue, in order. Empty: no limit of its own."
        error={fieldError(error, 'maxRuns')}
      >
        {(id, d) => (
          <input
            id={id}
            aria-describedby={d}
            type="number"
            min={1}
            max={1000}
            value={s.maxRuns}
            onChange={(e) => set('maxRuns', e.target.value)}
          />
        )}
      </Field>
      <Field
        label="Bandwidth (MiB/s)"
        hint="What all its runs together may write to its repositories a second; it slows them, never fails them. Empty: no limit."
        error={fieldError(error, 'bandwidthBytesPerSecond')}
      >
        {(id, d) => (
          <input
            id={id}
            aria-describedby={d}
            type="number"
            min={0}
            step="any"
            inputMode="decimal"
            value={s.bandwidth}
            onChange={(e) => set('bandwidth', e.target.value)}
          />
        )}
      </Field>
      <Field
        label="Protection days"
        hint="Insider protection: days a restore point its retention forgets stays in its recycle bin (hidden from the tenant, outside its quota, restorable by you) before it is purged. 0: removed at once."
        error={fieldError(error, 'protectionDays')}
      >
        {(id, d) => (
          <input
            id={id}
            aria-describedby={d}
            type="number"
            min={0}
            max={3650}
            value={s.protectionDays}
            onChange={(e) => set('protectionDays', e.target.value)}
          />
        )}
      </Field>
    </>
  );
}

function EditTenant({ tenant, onSaved }: { tenant: Tenant; onSaved: () => void }) {
  const [s, setS] = useState(() => settingsOf(tenant));
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const body = bodyOf(s, tenant);
    if (typeof body === 'string') return setError(new Error(body));
    setBusy(true);
    setError(undefined);
    api<Tenant>('PATCH', `tenants/${tenant.id}`, body).then(
      () => {
        setBusy(false);
        onSaved();
      },
      (err: unknown) => {
        setBusy(false);
        setError(err);
      },
    );
  };
  return (
    <form onSubmit={submit} aria-label={`Change tenant ${tenant.name}`}>
      <ErrorBox error={error} title={`Cannot change tenant ${tenant.name}`} />
      <SettingsFields value={s} onChange={setS} error={error} editing />
      <button type="submit" className="primary" disabled={busy}>
        {busy ? 'Saving…' : 'Save the changes'}
      </button>
    </form>
  );
}

function NewTenant({ onCreated }: { onCreated: (t: ProvisionedTenant) => void }) {
  const [name, setName] = useState('');
  const [s, setS] = useState(() => settingsOf(undefined));
  const [error, setError] = useState<unknown>();
  const [busy, setBusy] = useState(false);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const body = bodyOf(s);
    if (typeof body === 'string') return setError(new Error(body));
    setBusy(true);
    setError(undefined);
    api<ProvisionedTenant>('POST', 'tenants', { name: name.trim(), ...body }).then(
      (t) => {
        setBusy(false);
        setName('');
        setS(settingsOf(undefined));
        onCreated(t);
      },
      (err: unknown) => {
        setBusy(false);
        setError(err);
      },
    );
  };
  return (
    <Card title="Add a tenant" className="narrow">
      <p className="muted">
        The server makes its storage folder, a first repository named main with a key of its own, and an
        administrator named admin whose password you see once.
      </p>
      <form onSubmit={submit}>
        <ErrorBox error={error} title="Cannot add the tenant" />
        <Field
          label="Name"
          hint="Letters, digits, dot, dash and underscore."
          error={fieldError(error, 'name')}
        >
          {(id, d) => (
            <input
              id={id}
              aria-describedby={d}
              required
              autoComplete="off"
              pattern="[A-Za-z0-9][A-Za-z0-9._\-]*"
              value={name}
              onChange={(e) => setName(e.target.value)}
            />
          )}
        </Field>
        <SettingsFields value={s} onChange={setS} error={error} />
        <button type="submit" className="primary" disabled={busy}>
          {busy ? 'Adding…' : 'Add the tenant'}
        </button>
      </form>
    </Card>
  );
}

/**
 * What protected tenants' retention forgot: hidden from the tenants, kept until the protection
 * period ends. The system administrator gives a point back (the tenant sees it again) or purges
 * it early; restoring one is an ordinary restore, logged on to the tenant.
 */
function RecycleBin() {
  const bin = useApi<{ data: RecycledPoint[] }>('recycle-bin');
  const [error, setError] = useState<unknown>();
  const [notice, setNotice] = useState<string>();
  const act = (p: RecycledPoint, what: 'undelete' | 'purge') => {
    const short = p.snapshot.slice(0, 8);
    if (
      what === 'purge' &&
      !window.confirm(
        `Purge restore point ${short} of ${p.tenant.name}/${p.repository.name} now? It cannot be restored afterwards.`,
      )
    )
      return;
    setError(undefined);
    setNotice(undefined);
    const link = p.links.find((l) => l.rel === what);
    if (!link) return;
    api(link.method, link.href.replace(/^\/api\/v1\//, '')).then(
      () => {
        setNotice(
          what === 'purge'
            ? `Restore point ${short} purged.`
            : `Restore point ${short} given back to ${p.tenant.name}.`,
        );
        bin.reload();
      },
      (err: unknown) => setError(err),
    );
  };
  return (
    <Card title="Recycle bin" className="recycle-bin">
      <p className="muted">
        Restore points that protected tenants' retention forgot. The tenants no longer see them; they are
        purged when their protection ends. Restore one as usual, logged on to its tenant.
      </p>
      <ErrorBox error={error ?? bin.error} />
      {notice && <Notice kind="success">{notice}</Notice>}
      {!bin.data && !bin.error && <Loading />}
      {bin.data && bin.data.data.length === 0 && <Empty>The recycle bins are empty.</Empty>}
      {bin.data && bin.data.data.length > 0 && (
        <table>
          <thead>
            <tr>
              <th scope="col">Tenant</th>
              <th scope="col">Repository</th>
              <th scope="col">Restore point</th>
              <th scope="col">Job</th>
              <th scope="col">Forgotten</th>
              <th scope="col">Purged after</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {bin.data.data.map((p) => (
              <tr key={`${p.repository.id}/${p.snapshot}`}>
                <td>{p.tenant.name}</td>
                <td>{p.repository.name}</td>
                <td>
                  <code title={p.snapshot}>{p.snapshot.slice(0, 8)}</code> of {dateTime(p.snapshotTime)}
                </td>
                <td>{p.job}</td>
                <td title={p.deletedBy}>{dateTime(p.deletedAt)}</td>
                <td>{dateTime(p.purgeAfter)}</td>
                <td className="actions">
                  <button type="button" onClick={() => act(p, 'undelete')}>
                    Give back
                  </button>{' '}
                  <button type="button" className="danger" onClick={() => act(p, 'purge')}>
                    Purge now
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </Card>
  );
}
