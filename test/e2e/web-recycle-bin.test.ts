/**
 * The recycle bin in the web UI, in Debian's Chromium against a server in this process (issue 19):
 * a protected tenant's retention forgets restore points; the system administrator finds them in
 * the Recycle bin on the Tenants page, gives one back to the tenant (which then lists it again)
 * and purges another (which is then gone for everyone).
 *
 * Needs the built app (`npm run build`) and /usr/bin/chromium (scripts/setup.sh installs it).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ADMIN, http, logon, testServer, waitTask, type TestServer } from './server-api.testing.ts';
import {
  DOC_SCREENSHOTS,
  launchBrowser,
  logonInBrowser,
  requireWebBuild,
  screenshot,
  type Browser,
} from './web.testing.ts';

describe('the recycle bin in the web UI', () => {
  let s: TestServer;
  let sys: Browser;
  let sysToken: string;
  let tenantToken: string;
  let repoId: string;
  let jobId: string;
  let src: string;

  const run = async (content: string) => {
    writeFileSync(path.join(src, 'notes.txt'), content);
    const start = await http(s.url, 'POST', `/api/v1/jobs/${jobId}/start`, { token: tenantToken });
    assert.equal(start.status, 202, JSON.stringify(start.body));
    const task = await waitTask(s.url, tenantToken, (start.body as { id: string }).id);
    assert.equal(task.result, 'success', JSON.stringify(task));
  };
  const visible = async () => {
    const a = await http(s.url, 'GET', `/api/v1/repositories/${repoId}/snapshots`, { token: tenantToken });
    assert.equal(a.status, 200, JSON.stringify(a.body));
    return (a.body as { data: { id: string }[] }).data.map((x) => x.id);
  };
  const binNow = async () => {
    const a = await http(s.url, 'GET', '/api/v1/recycle-bin', { token: sysToken });
    assert.equal(a.status, 200, JSON.stringify(a.body));
    return (a.body as { data: { snapshot: string }[] }).data.map((x) => x.snapshot);
  };

  before(async () => {
    requireWebBuild();
    s = await testServer();
    sysToken = await logon(s.url);
    src = path.join(s.dir, 'delta-src');
    mkdirSync(src);
    const t = await http(s.url, 'POST', '/api/v1/tenants', {
      token: sysToken,
      body: { name: 'delta', sourceRoots: [src], protectionDays: 3 },
    });
    assert.equal(t.status, 201, JSON.stringify(t.body));
    const made = t.body as { admin: { logon: string; password: string }; repository: { id: string } };
    repoId = made.repository.id;
    tenantToken = await logon(s.url, made.admin.logon, made.admin.password);
    const j = await http(s.url, 'POST', '/api/v1/jobs', {
      token: tenantToken,
      body: { name: 'notes', repository: 'main', sources: [src], retention: { keepLast: 1 } },
    });
    assert.equal(j.status, 201, JSON.stringify(j.body));
    jobId = (j.body as { id: string }).id;
    for (const v of ['one', 'two', 'three']) await run(v);
    sys = await launchBrowser();
  });

  after(async () => {
    await sys?.close();
    await s?.close();
  });

  it('gives a forgotten restore point back to its tenant, and purges another', async () => {
    const forgotten = await binNow();
    assert.equal(forgotten.length, 2);
    assert.equal((await visible()).length, 1);
    const { page } = sys;
    page.on('dialog', (d) => void d.accept());
    await page.goto(s.url);
    await logonInBrowser(page, ADMIN.user, ADMIN.password);
    await page.getByRole('heading', { level: 1, name: 'Dashboard' }).waitFor({ timeout: 15_000 });
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Tenants' }).click();
    const bin = page.getByRole('region', { name: 'Recycle bin' });
    const rows = bin.getByRole('row').filter({ hasText: 'delta' });
    await rows.first().waitFor({ timeout: 15_000 });
    assert.equal(await rows.count(), 2);
    // The suite never rewrites tracked files: docs/screenshots/ only with CAIRN_UPDATE_SCREENSHOTS=1.
    const doc = path.join(DOC_SCREENSHOTS, 'recycle-bin.png');
    const was = existsSync(doc) ? statSync(doc).mtimeMs : undefined;
    await screenshot(page, 'recycle-bin', { docs: true });
    if (process.env.CAIRN_UPDATE_SCREENSHOTS !== '1')
      assert.equal(
        existsSync(doc) ? statSync(doc).mtimeMs : undefined,
        was,
        'docs/screenshots was rewritten',
      );

    const back = rows.filter({ hasText: forgotten[0]!.slice(0, 8) });
    await back.getByRole('button', { name: 'Give back' }).click();
    await page.getByText(`Restore point ${forgotten[0]!.slice(0, 8)} given back to delta.`).waitFor();
    assert.deepEqual((await visible()).includes(forgotten[0]!), true, 'the tenant lists it again');
    assert.deepEqual(await binNow(), [forgotten[1]]);

    const gone = bin.getByRole('row').filter({ hasText: forgotten[1]!.slice(0, 8) });
    await gone.getByRole('button', { name: 'Purge now' }).click();
    await page.getByText(`Restore point ${forgotten[1]!.slice(0, 8)} purged.`).waitFor();
    await bin.getByText('The recycle bins are empty.').waitFor();
    assert.deepEqual(await binNow(), []);
    const asSys = await http(s.url, 'GET', `/api/v1/repositories/${repoId}/snapshots/${forgotten[1]}`, {
      token: await (async () => {
        const res = await fetch(`${s.url}/api/v1/sessions?tenant=delta`, {
          method: 'POST',
          headers: {
            authorization: `Basic ${Buffer.from(`${ADMIN.user}:${ADMIN.password}`).toString('base64')}`,
          },
        });
        return res.headers.get('x-cairn-session') ?? '';
      })(),
    });
    assert.equal(asSys.status, 404, 'a purged point is gone for the system administrator too');
    assert.deepEqual(sys.problems, []);
  });
});
