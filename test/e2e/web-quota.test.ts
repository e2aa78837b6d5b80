/**
 * The dashboard shows a tenant's usage against its quota, in Debian's Chromium: a meter when the
 * tenant has a quota, the bytes stored without one. Needs the built app (`npm run build`).
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { hashPassword } from '../../src/api/index.ts';
import { measureRepository } from '../../src/jobs/index.ts';
import { seededBytes } from '../../src/repo/fixtures.testing.ts';
import { cairn, cleanEnv, show } from './cli.testing.ts';
import { testServer, type TestServer } from './server-api.testing.ts';
import { launchBrowser, logonInBrowser, requireWebBuild, screenshot, type Browser } from './web.testing.ts';

describe('web UI: the tenant quota on the dashboard', () => {
  let s: TestServer;
  let b: Browser;
  let stored = 0;

  before(async () => {
    requireWebBuild();
    s = await testServer();
    const catalog = s.server.catalog;
    // A repository with one restore point of 3 MB, in a tenant with a 4 MB quota.
    const location = path.join(s.dir, 'repo');
    const passwordFile = path.join(s.dir, 'repo.password');
    writeFileSync(passwordFile, 'a password\n', { mode: 0o600 });
    const src = path.join(s.dir, 'src');
    mkdirSync(src);
    writeFileSync(path.join(src, 'data.bin'), seededBytes('web quota', 3_000_000));
    const env = cleanEnv();
    for (const args of [['init'], ['backup', src]]) {
      const r = await cairn(['--repo', location, '--password-file', passwordFile, ...args], { env });
      assert.equal(r.code, 0, show(r));
    }
    const tenant = await catalog.createTenant({ name: 'acme', quotaBytes: 4_000_000 });
    const other = await catalog.createTenant({ name: 'open' });
    const row = await catalog.createRepository({
      tenantId: tenant.id,
      name: 'vault',
      location,
      passwordFile,
      maxConcurrent: 1,
      origin: 'api',
    });
    stored = (await measureRepository(catalog, row)).storedBytes;
    for (const [name, t] of [
      ['ada', tenant],
      ['otto', other],
    ] as const) {
      const u = await catalog.createUser({
        name,
        passwordHash: await hashPassword(`${name} password`),
        systemAdmin: false,
      });
      await catalog.setRole(u.id, t.id, 'viewer');
    }
    b = await launchBrowser();
  });
  after(async () => {
    await b?.close();
    await s?.close();
  });

  it("shows the tenant's usage against its quota as a meter", async () => {
    const { page } = b;
    await page.goto(s.url);
    await logonInBrowser(page, 'ada', 'ada password');
    const meter = page.getByRole('meter', { name: 'Quota used' });
    await meter.waitFor({ timeout: 15_000 });
    const percent = Math.round((stored / 4_000_000) * 100);
    assert.ok(percent >= 75 && percent < 90, `${percent} %`);
    assert.equal(await meter.getAttribute('aria-valuenow'), String(percent));
    assert.equal(await meter.getAttribute('class'), 'usage-track quota-ok');
    const card = page.locator('section, div').filter({ has: meter }).last();
    assert.match(await card.innerText(), new RegExp(`of 4\\.00 MB used \\(${percent} %\\)`));
    assert.match(await page.locator('main').innerText(), /Tenant acme, 1 repository/);
    await screenshot(page, 'dashboard-quota');
    assert.deepEqual(b.problems, []);
  });

  it('shows the bytes stored and no meter for a tenant without a quota', async () => {
    const { page } = b;
    await page.context().clearCookies();
    await page.goto(s.url);
    await logonInBrowser(page, 'otto', 'otto password');
    await page.getByText('(no quota)').waitFor({ timeout: 15_000 });
    assert.equal(await page.getByRole('meter', { name: 'Quota used' }).count(), 0);
    assert.match(await page.locator('main').innerText(), /0 B stored \(no quota\)/);
  });
});
