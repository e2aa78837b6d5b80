/**
 * Tenants in the web UI, in Debian's Chromium against a server in this process (issue 19): the
 * system administrator provisions a tenant on the Tenants page and reads its administrator's
 * one-time password there, changes its quota, is refused its deletion (it still has a repository)
 * with the server's message, sets its runs at once and bandwidth, and grants it a script on the
 * Scripts page. That administrator then logs on in a browser of its own, sees neither Tenants nor
 * Scripts, creates a repository by name only, and a job whose run-before step and hook name the
 * granted script (no command is offered). The system administrator types a hook's command.
 *
 * Needs the built app (`npm run build`) and /usr/bin/chromium (scripts/setup.sh installs it).
 */
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { ADMIN, http, logon, testServer, type TestServer } from './server-api.testing.ts';
import { launchBrowser, logonInBrowser, requireWebBuild, screenshot, type Browser } from './web.testing.ts';

const GIB = 2 ** 30;
const MIB = 2 ** 20;

async function heading(page: Page, name: string | RegExp): Promise<void> {
  await page.getByRole('heading', { level: 1, name }).waitFor({ timeout: 15_000 });
}

interface TenantView {
  name: string;
  quotaBytes: number | null;
  sourceRoots: string[];
  restoreRoots: string[];
  protectionDays: number;
  maxRuns: number | null;
  bandwidthBytesPerSecond: number | null;
}

describe('tenants in the web UI', () => {
  let s: TestServer;
  let sys: Browser;
  let tenant: Browser | undefined;
  let sysToken: string;
  let source: string;
  let restore: string;
  let acme = { logon: '', password: '' };

  before(async () => {
    requireWebBuild();
    s = await testServer();
    sysToken = await logon(s.url);
    source = path.join(s.dir, 'acme-src');
    restore = path.join(s.dir, 'acme-restore');
    mkdirSync(source, { recursive: true });
    mkdirSync(restore, { recursive: true });
    sys = await launchBrowser();
  });

  after(async () => {
    await tenant?.close();
    await sys?.close();
    await s?.close();
  });

  const tenantsNow = async (): Promise<TenantView[]> => {
    const a = await http(s.url, 'GET', '/api/v1/tenants', { token: sysToken });
    assert.equal(a.status, 200, JSON.stringify(a.body));
    return (a.body as { data: TenantView[] }).data;
  };

  it('the system administrator provisions a tenant and sees its administrator’s password once', async () => {
    const { page } = sys;
    await page.goto(s.url);
    await logonInBrowser(page, ADMIN.user, ADMIN.password);
    await heading(page, 'Dashboard');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Tenants' }).click();
    await heading(page, 'Tenants');
    const form = page.getByRole('region', { name: 'Add a tenant' });
    await form.getByLabel('Name').fill('acme');
    await form.getByLabel('Quota', { exact: true }).fill('2');
    await form.getByLabel('Source roots').fill(source);
    await form.getByLabel('Restore roots').fill(restore);
    await form.getByLabel('Protection days').fill('3');
    await form.getByRole('button', { name: 'Add the tenant' }).click();
    const shown = page.getByRole('region', { name: 'Administrator of tenant acme' });
    await shown.waitFor({ timeout: 15_000 });
    acme = {
      logon: await shown.getByTestId('tenant-admin-logon').innerText(),
      password: await shown.getByTestId('tenant-admin-password').innerText(),
    };
    assert.equal(acme.logon, 'admin@acme');
    assert.ok(acme.password.length >= 16, `a long password: ${acme.password.length} characters`);
    assert.match(await shown.innerText(), /shown this once/);
    // What the form sent is what the server keeps.
    const made = (await tenantsNow()).find((t) => t.name === 'acme');
    assert.deepEqual(made && [made.quotaBytes, made.sourceRoots, made.restoreRoots, made.protectionDays], [
      2 * GIB,
      [source],
      [restore],
      3,
    ]);
    const card = page.getByRole('region', { name: 'acme', exact: true });
    assert.match(await card.innerText(), /2 GiB[\s\S]*not measured yet/);
    await screenshot(page, 'tenant-created');
    await shown.getByRole('button', { name: 'I have written it down' }).click();
    assert.equal(await shown.count(), 0, 'the password is gone from the page');
    // For the documentation without the (throw-away) password.
    await screenshot(page, 'tenants', { docs: true });
  });

  it('changes the quota, and shows why a tenant with a repository cannot be deleted', async () => {
    const { page } = sys;
    const card = page.getByRole('region', { name: 'acme', exact: true });
    await card.getByRole('button', { name: 'Edit tenant acme' }).click();
    const edit = card.getByRole('form', { name: 'Change tenant acme' });
    await edit.getByLabel('Quota', { exact: true }).fill('512');
    await edit.getByLabel('Quota unit').selectOption('MiB');
    await edit.getByRole('button', { name: 'Save the changes' }).click();
    await page.getByRole('status').filter({ hasText: 'Tenant acme changed.' }).waitFor({ timeout: 10_000 });
    assert.equal((await tenantsNow()).find((t) => t.name === 'acme')?.quotaBytes, 512 * MIB);
    // The card shows the new quota once the list is read again.
    await card.getByText('512 MiB', { exact: true }).waitFor({ timeout: 10_000 });

    // Its limits: two runs at once, 10 MiB a second written by all of them together.
    await card.getByRole('button', { name: 'Edit tenant acme' }).click();
    await edit.getByLabel('Runs at once').fill('2');
    await edit.getByLabel('Bandwidth (MiB/s)').fill('10');
    await edit.getByRole('button', { name: 'Save the changes' }).click();
    await card.getByText('10 MiB/s', { exact: true }).waitFor({ timeout: 10_000 });
    const limited = (await tenantsNow()).find((t) => t.name === 'acme');
    assert.deepEqual(limited && [limited.maxRuns, limited.bandwidthBytesPerSecond, limited.quotaBytes], [
      2,
      10 * MIB,
      512 * MIB,
    ]);

    page.once('dialog', (d) => void d.accept());
    await card.getByRole('button', { name: 'Delete tenant acme' }).click();
    const alert = page.getByRole('alert');
    await alert.waitFor({ timeout: 10_000 });
    assert.match(await alert.innerText(), /still has repositories \(main\)/);
    assert.ok(
      (await tenantsNow()).some((t) => t.name === 'acme'),
      'the tenant is still there',
    );
  });

  it('defines a script granted to the tenant on the Scripts page', async () => {
    const { page } = sys;
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Scripts' }).click();
    await heading(page, 'Scripts');
    const form = page.getByRole('region', { name: 'Define a script' });
    await form.getByLabel('Name').fill('say-hello');
    await form.getByLabel('Command').fill(`sh -c 'echo hello from acme'`);
    await form.getByLabel('Description').fill('greets the log');
    await form.getByLabel('Granted to tenants').fill('acme');
    await form.getByRole('button', { name: 'Define the script' }).click();
    await page.getByRole('status').filter({ hasText: 'Script say-hello defined.' }).waitFor();
    const a = await http(s.url, 'GET', '/api/v1/scripts', { token: sysToken });
    const scripts = (a.body as { data: { name: string; command: string[]; tenants: string[] }[] }).data;
    assert.deepEqual(
      scripts.map((x) => [x.name, x.command, x.tenants]),
      [['say-hello', ['sh', '-c', 'echo hello from acme'], ['acme']]],
    );
    assert.match(await page.getByRole('table').innerText(), /say-hello[\s\S]*'echo hello from acme'/);
  });

  it('the system administrator gives its own tenant a storage root and adds a repository without a location', async () => {
    const { page } = sys;
    const storage = path.join(s.dir, 'default-storage');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Tenants' }).click();
    await heading(page, 'Tenants');
    const card = page.getByRole('region', { name: 'default', exact: true });
    await card.getByRole('button', { name: 'Edit tenant default' }).click();
    const edit = card.getByRole('form', { name: 'Change tenant default' });
    await edit.getByLabel('Storage root').fill(storage);
    await edit.getByRole('button', { name: 'Save the changes' }).click();
    await card.getByText(storage, { exact: true }).waitFor({ timeout: 10_000 });

    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Repositories' }).click();
    await heading(page, 'Repositories');
    const form = page.getByRole('region', { name: 'Add a repository' });
    await form.getByLabel('Name').fill('archive');
    assert.equal(await form.getByLabel('Password').count(), 0, 'no password without a location');
    await form.getByRole('button', { name: 'Add the repository' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: 'Repository archive added.' })
      .waitFor({ timeout: 15_000 });
    const a = await http(s.url, 'GET', '/api/v1/repositories', { token: sysToken });
    const repos = (a.body as { data: { name: string; location: string | null; storage: string }[] }).data;
    const archive = repos.find((r) => r.name === 'archive');
    assert.equal(archive?.storage, 'tenant');
    assert.ok(archive?.location?.startsWith(storage + path.sep), archive?.location ?? 'no location');
  });

  it('the tenant’s administrator, logged on in a browser of its own, sees no Tenants and creates a repository by name', async () => {
    tenant = await launchBrowser();
    const { page } = tenant;
    await page.goto(s.url);
    await logonInBrowser(page, acme.logon, acme.password);
    await heading(page, 'Dashboard');
    const nav = page.getByRole('navigation', { name: 'Main' });
    for (const name of ['Repositories', 'Users'])
      assert.equal(await nav.getByRole('link', { name, exact: true }).count(), 1, name);
    for (const name of ['Tenants', 'Scripts'])
      assert.equal(await nav.getByRole('link', { name, exact: true }).count(), 0, `no ${name} link`);

    await nav.getByRole('link', { name: 'Repositories' }).click();
    await heading(page, 'Repositories');
    const form = page.getByRole('region', { name: 'Add a repository' });
    assert.equal(await form.getByLabel('Location').count(), 0, 'no location asked');
    assert.equal(await form.getByLabel('Password').count(), 0, 'no password asked');
    await form.getByLabel('Name').fill('photos');
    await form.getByRole('button', { name: 'Add the repository' }).click();
    await page
      .getByRole('status')
      .filter({ hasText: 'Repository photos added.' })
      .waitFor({ timeout: 15_000 });
    const card = page.getByRole('region', { name: 'photos', exact: true });
    assert.match(await card.innerText(), /in this tenant's storage/);
    const token = await logon(s.url, acme.logon, acme.password);
    const a = await http(s.url, 'GET', '/api/v1/repositories', { token });
    const repos = (a.body as { data: { name: string; location: string | null; storage: string }[] }).data;
    assert.deepEqual(repos.map((r) => [r.name, r.location, r.storage]).sort(), [
      ['main', null, 'tenant'],
      ['photos', null, 'tenant'],
    ]);
  });

  it('the tenant’s job names the granted script before the backup; no command is offered', async () => {
    const { page } = tenant!;
    await page.goto(`${s.url}/jobs/new`);
    await heading(page, 'New job');
    await page.getByLabel('Name', { exact: true }).fill('docs');
    await page.getByLabel('Sources').fill(source);
    await page.getByRole('button', { name: 'Add a step before' }).click();
    assert.equal(await page.getByLabel(/step 1: kind/).count(), 0, 'no choice of a command');
    assert.equal(await page.getByLabel(/step 1: command/).count(), 0, 'no command field');
    await page.getByLabel('Run before the backup, step 1: script').selectOption('say-hello');
    // A hook names the script too, when the run ends (the default) and when it fails.
    await page.getByRole('button', { name: 'Add a hook' }).click();
    assert.deepEqual(
      await page.getByLabel('Hook 1: kind').locator('option').allInnerTexts(),
      ['named script', 'webhook'],
      'no command for a hook either',
    );
    await page.getByLabel('Hook 1: script').selectOption('say-hello');
    await page.getByLabel('Hook 1: when it fails').check();
    await screenshot(page, 'tenant-job-form');
    await page.getByRole('button', { name: 'Create the job' }).click();
    await heading(page, 'docs');
    const token = await logon(s.url, acme.logon, acme.password);
    const a = await http(s.url, 'GET', '/api/v1/jobs', { token });
    const jobs = (a.body as { data: { name: string; runBefore?: unknown[]; hooks?: unknown[] }[] }).data;
    assert.deepEqual(
      jobs.map((j) => [j.name, j.runBefore, j.hooks]),
      [['docs', [{ script: 'say-hello' }], [{ on: ['end', 'failure'], script: 'say-hello' }]]],
    );
    // The job's page says so.
    assert.match(await page.getByText(/^on end, failure:/).innerText(), /script say-hello/);
  });

  it('the system administrator types a hook’s command, which the form keeps as its words', async () => {
    const { page } = sys;
    await page.goto(`${s.url}/jobs/new`);
    await heading(page, 'New job');
    await page.getByLabel('Name', { exact: true }).fill('tell');
    await page.getByLabel('Sources').fill(source);
    await page.getByRole('button', { name: 'Add a hook' }).click();
    await page.getByLabel('Hook 1: kind').selectOption('command');
    await page.getByLabel('Hook 1: command').fill(`sh -c 'echo "run $CAIRN_RUN_ID ended"'`);
    await page.getByRole('button', { name: 'Create the job' }).click();
    await heading(page, 'tell');
    const a = await http(s.url, 'GET', '/api/v1/jobs', { token: sysToken });
    const job = (a.body as { data: { id: string; name: string; hooks?: unknown[] }[] }).data.find(
      (j) => j.name === 'tell',
    );
    assert.deepEqual(job?.hooks, [{ on: ['end'], command: ['sh', '-c', 'echo "run $CAIRN_RUN_ID ended"'] }]);
    // Edited again, the command reads as it was typed.
    await page.goto(`${s.url}/jobs/${job.id}/edit`);
    await heading(page, 'Edit job tell');
    assert.equal(
      await page.getByLabel('Hook 1: command').inputValue(),
      `sh -c 'echo "run $CAIRN_RUN_ID ended"'`,
    );
    assert.deepEqual(tenant!.problems, []);
    assert.deepEqual(sys.problems, []);
  });
});
