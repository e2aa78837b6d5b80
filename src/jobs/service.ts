/**
 * The operations on jobs and repositories that the API and the configuration file share: create,
 * change, start, restore. Each checks what the JSON schema cannot (cron expressions, that the
 * repository exists in the tenant) and records who did what in the audit log.
 */
import { rmSync } from 'node:fs';
import path from 'node:path';
import type { Catalog, JobRow, RepositoryRow, RunRow, TaskRow } from '../catalog/index.ts';
import { CairnError, isCairnError } from '../errors.ts';
import type { ServerConfig } from './config.ts';
import { commandWords } from '../plugins/index.ts';
import { checkJobPlugins, type PluginSettings } from './plugins.ts';
import { ensureRepository, writePasswordFile } from './repos.ts';
import {
  checkConfinedSpec,
  checkScriptNames,
  confinePath,
  createTenantRepository,
  type Confinement,
  type Tenancy,
} from './tenancy.ts';
import type { BackupRunParams, RestoreParams } from './work.ts';
import { checkSpec, nextRunOf, type JobInput, type JobSpec, type RepositoryInput } from './spec.ts';
import { binOf, refuseHidden } from './recycle.ts';

export interface Actor {
  readonly tenantId: string;
  readonly userId: string | null;
  readonly userName: string;
}

function specOf(input: JobInput): JobSpec {
  const { name: _n, repository: _r, ...spec } = input;
  return spec;
}

async function resolveRepository(catalog: Catalog, tenantId: string, ref: string): Promise<RepositoryRow> {
  const r = (await catalog.repositoryByName(tenantId, ref)) ?? (await catalog.repository(tenantId, ref));
  if (!r) throw new CairnError('INVALID_INPUT', `repository: no repository "${ref}" in this tenant`);
  return r;
}

/** Everything a job's definition must satisfy beyond its schema, its directives included. */
async function checkJob(input: JobInput, plugins: PluginSettings | undefined): Promise<void> {
  checkSpec(input);
  await checkJobPlugins(input, plugins);
}

export async function createJob(
  catalog: Catalog,
  actor: Actor,
  input: JobInput,
  origin: 'config' | 'api' = 'api',
  plugins?: PluginSettings,
  /** A tenant user's limits: the job is checked against them now and again whenever it runs. */
  guard?: Confinement,
): Promise<JobRow> {
  await checkJob(input, plugins);
  const repo = await resolveRepository(catalog, actor.tenantId, input.repository);
  const spec = specOf(input);
  if (guard) await checkConfinedSpec(catalog, guard, spec);
  else await checkScriptNames(catalog, spec);
  const job = await catalog.createJob({
    confined: guard !== undefined,
    tenantId: actor.tenantId,
    name: input.name,
    repositoryId: repo.id,
    spec,
    enabled: spec.enabled !== false,
    origin,
    nextRunAt: nextRunOf(spec.schedule, catalog.now())?.toISOString() ?? null,
  });
  await catalog.audit({
    tenantId: actor.tenantId,
    user: actor.userName,
    action: 'job.create',
    object: job.id,
    detail: { name: job.name },
  });
  return job;
}

export async function updateJob(
  catalog: Catalog,
  actor: Actor,
  id: string,
  input: JobInput,
  plugins?: PluginSettings,
  guard?: Confinement,
): Promise<JobRow> {
  const old = await catalog.job(actor.tenantId, id);
  if (!old) throw new CairnError('NOT_FOUND', `Cannot change job ${id}: no such job`);
  await checkJob(input, plugins);
  const repo = await resolveRepository(catalog, actor.tenantId, input.repository);
  const spec = specOf(input);
  if (guard) await checkConfinedSpec(catalog, guard, spec);
  else await checkScriptNames(catalog, spec);
  const oldSpec = JSON.parse(old.spec) as JobSpec;
  const scheduleChanged = JSON.stringify(oldSpec.schedule ?? null) !== JSON.stringify(spec.schedule ?? null);
  const enabled = spec.enabled !== false;
  await catalog.updateJob(actor.tenantId, id, {
    // Saved by a tenant user: checked again at every run. Saved by the system administrator: trusted.
    confined: guard !== undefined,
    name: input.name,
    repositoryId: repo.id,
    spec,
    enabled,
    ...(scheduleChanged || !old.next_run_at || !enabled
      ? { nextRunAt: enabled ? (nextRunOf(spec.schedule, catalog.now())?.toISOString() ?? null) : null }
      : {}),
  });
  await catalog.audit({
    tenantId: actor.tenantId,
    user: actor.userName,
    action: 'job.update',
    object: id,
    detail: { name: input.name },
  });
  const job = await catalog.job(actor.tenantId, id);
  if (!job) throw new CairnError('NOT_FOUND', `job ${id} vanished while it was changed`);
  return job;
}

export async function deleteJob(catalog: Catalog, actor: Actor, id: string): Promise<void> {
  const job = await catalog.job(actor.tenantId, id);
  if (!job) throw new CairnError('NOT_FOUND', `Cannot delete job ${id}: no such job`);
  const active = await catalog.activeRunOf(id);
  if (active)
    throw new CairnError(
      'CONFLICT',
      `Cannot delete job ${job.name}: run ${active.id} is ${active.state}; cancel it first`,
    );
  await catalog.deleteJob(actor.tenantId, id);
  await catalog.audit({
    tenantId: actor.tenantId,
    user: actor.userName,
    action: 'job.delete',
    object: id,
    detail: { name: job.name },
  });
}

/** Queues a run of the job now (at another level than the job's, if given) and returns its task. */
export async function startJob(
  catalog: Catalog,
  actor: Actor,
  id: string,
  params: BackupRunParams = {},
): Promise<{ run: RunRow; task: TaskRow }> {
  const job = await catalog.job(actor.tenantId, id);
  if (!job) throw new CairnError('NOT_FOUND', `Cannot start job ${id}: no such job`);
  const active = await catalog.activeRunOf(id);
  if (active)
    throw new CairnError(
      'CONFLICT',
      `Cannot start job ${job.name}: run ${active.id} is still ${active.state}`,
    );
  let run: RunRow;
  try {
    run = await catalog.enqueueRun({
      tenantId: actor.tenantId,
      jobId: job.id,
      jobName: job.name,
      repositoryId: job.repository_id,
      kind: 'backup',
      params,
      trigger: 'manual',
    });
  } catch (err) {
    // Queued by someone else (another server) since the look above: the catalog keeps one.
    if (!isCairnError(err, 'CONFLICT')) throw err;
    const other = await catalog.activeRunOf(id);
    throw new CairnError(
      'CONFLICT',
      `Cannot start job ${job.name}: ${other ? `run ${other.id} is still ${other.state}` : 'another run of it was queued at the same time'}`,
    );
  }
  const task = await catalog.createTask({
    tenantId: actor.tenantId,
    userId: actor.userId,
    operation: 'StartJob',
    runId: run.id,
  });
  await catalog.audit({
    tenantId: actor.tenantId,
    user: actor.userName,
    action: 'job.start',
    object: id,
    detail: { run: run.id, ...params },
  });
  return { run, task };
}

export async function startRestore(
  catalog: Catalog,
  actor: Actor,
  repositoryRef: string,
  given: RestoreParams,
  /** A tenant user's limits: the target must lie under its restore roots; no plugin runs. */
  guard?: Confinement,
): Promise<{ run: RunRow; task: TaskRow }> {
  const repo = await resolveRepository(catalog, actor.tenantId, repositoryRef);
  let params = given;
  if (!path.isAbsolute(params.target))
    throw new CairnError('INVALID_INPUT', `target: "${params.target}" is not an absolute path`);
  if (guard) {
    if ((params.pluginOptions ?? []).length > 0)
      throw new CairnError(
        'FORBIDDEN',
        'pluginOptions: they name programs to run on the server; only the system administrator may give them',
      );
    const target = confinePath(guard, params.target, 'restore', 'target');
    // Plugin entries (a bpipe dump) come back as files: their stored writer programs do not run.
    params = { ...params, target, asFiles: true, confined: true };
    // A restore point in the recycle bin is gone for a tenant user (the run checks again, also
    // for "latest").
    const hidden = await binOf(catalog, repo.id);
    const id = [...hidden].find((h) => h.startsWith(params.snapshot));
    if (id !== undefined && params.snapshot !== 'latest') refuseHidden(hidden, params.snapshot, id);
  }
  (params.paths ?? []).forEach((p, i) => {
    if (!p.startsWith('/'))
      throw new CairnError(
        'INVALID_INPUT',
        `paths[${i}]: "${p}" is not an absolute path in the restore point`,
      );
  });
  const run = await catalog.enqueueRun({
    tenantId: actor.tenantId,
    jobId: null,
    jobName: `restore ${params.snapshot.slice(0, 12)}`,
    repositoryId: repo.id,
    kind: 'restore',
    params,
    trigger: 'api',
  });
  const task = await catalog.createTask({
    tenantId: actor.tenantId,
    userId: actor.userId,
    operation: 'Restore',
    runId: run.id,
  });
  await catalog.audit({
    tenantId: actor.tenantId,
    user: actor.userName,
    action: 'restore.start',
    object: repo.id,
    detail: { run: run.id, snapshot: params.snapshot, target: params.target },
  });
  return { run, task };
}

export async function createRepository(
  catalog: Catalog,
  actor: Actor,
  input: RepositoryInput,
  secretsDir: string,
  origin: 'config' | 'api' = 'api',
  /** Given for the API: a repository without a location is made in the tenant's storage root. */
  tenancy?: Tenancy,
  /** A tenant user: only a name, never a location or a password file of the server. */
  confined = false,
): Promise<RepositoryRow> {
  if (confined) {
    const named = (['location', 'password', 'passwordFile'] as const).filter((k) => input[k] !== undefined);
    if (named.length > 0)
      throw new CairnError(
        'FORBIDDEN',
        `${named.join(', ')}: only the system administrator places repositories and names password files; give only a name and the repository is made in this tenant's storage`,
      );
  }
  if (await catalog.repositoryByName(actor.tenantId, input.name))
    throw new CairnError(
      'CONFLICT',
      `Cannot create repository ${input.name}: the name is taken in this tenant`,
    );
  if (input.location === undefined) {
    if (!tenancy) throw new CairnError('INVALID_INPUT', "location: give the repository's location");
    if (input.password !== undefined || input.passwordFile !== undefined)
      throw new CairnError(
        'INVALID_INPUT',
        "password: a repository made in the tenant's storage gets a key of its own; give a location to use a password",
      );
    const tenant = await catalog.tenant(actor.tenantId);
    if (!tenant) throw new CairnError('NOT_FOUND', `No tenant ${actor.tenantId}`);
    const made = await createTenantRepository(tenancy, tenant, input.name);
    const row = await catalog.createRepository({
      tenantId: actor.tenantId,
      name: input.name,
      location: made.location,
      passwordFile: '',
      wrappedKey: made.wrappedKey,
      maxConcurrent: input.maxConcurrent ?? 2,
      origin,
    });
    await catalog.audit({
      tenantId: actor.tenantId,
      user: actor.userName,
      action: 'repository.create',
      object: row.id,
      detail: { name: row.name, storage: 'tenant' },
    });
    return row;
  }
  if (!/^s3:/i.test(input.location) && !path.isAbsolute(input.location))
    throw new CairnError(
      'INVALID_INPUT',
      `location: "${input.location}" is not an absolute path (or s3:http(s)://HOST/BUCKET)`,
    );
  if (input.password && input.passwordFile)
    throw new CairnError('INVALID_INPUT', 'password: give password or passwordFile, not both');
  const tenantDir = path.join(secretsDir, actor.tenantId);
  const passwordFile = input.passwordFile ?? writePasswordFile(tenantDir, input.name, input.password);
  try {
    await ensureRepository(
      { name: input.name, location: input.location, password_file: passwordFile },
      input.create === true,
    );
  } catch (err) {
    // Refused: nothing is recorded, not even the password file written for it.
    if (input.passwordFile === undefined) rmSync(passwordFile, { force: true });
    throw err;
  }
  const row = await catalog.createRepository({
    tenantId: actor.tenantId,
    name: input.name,
    location: input.location,
    passwordFile,
    maxConcurrent: input.maxConcurrent ?? 2,
    origin,
  });
  await catalog.audit({
    tenantId: actor.tenantId,
    user: actor.userName,
    action: 'repository.create',
    object: row.id,
    detail: { name: row.name, location: row.location },
  });
  return row;
}

/**
 * Makes the catalog hold what the configuration file says: repositories and jobs named in it are
 * created or updated. Objects created through the API are left alone.
 */
export async function applyConfig(
  catalog: Catalog,
  actor: Actor,
  config: ServerConfig,
  secretsDir: string,
  plugins?: PluginSettings,
): Promise<{ repositories: number; jobs: number }> {
  for (const x of config.scripts ?? []) {
    const command = commandWords(x.command);
    const existing = await catalog.scriptByName(x.name);
    const fields = {
      command,
      description: x.description ?? '',
      timeoutSeconds: x.timeoutSeconds ?? null,
      tenants: x.tenants ?? [],
    };
    if (existing) await catalog.updateScript(existing.id, fields);
    else await catalog.createScript({ name: x.name, ...fields, origin: 'config' });
  }
  for (const r of config.repositories ?? []) {
    const existing = await catalog.repositoryByName(actor.tenantId, r.name);
    if (!existing) {
      await createRepository(catalog, actor, { ...r }, secretsDir, 'config');
    } else {
      const passwordFile = r.passwordFile ?? existing.password_file;
      await ensureRepository(
        { name: r.name, location: r.location, password_file: passwordFile },
        r.create === true,
      );
      await catalog.updateRepository(actor.tenantId, existing.id, {
        location: r.location,
        password_file: passwordFile,
        max_concurrent: r.maxConcurrent ?? existing.max_concurrent,
      });
    }
  }
  for (const j of config.jobs ?? []) {
    const existing = await catalog.jobByName(actor.tenantId, j.name);
    if (existing) await updateJob(catalog, actor, existing.id, j, plugins);
    else await createJob(catalog, actor, j, 'config', plugins);
  }
  return { repositories: config.repositories?.length ?? 0, jobs: config.jobs?.length ?? 0 };
}
