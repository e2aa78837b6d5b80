/**
 * The Users page in Chromium, and the web UI under the server's content security policy: a
 * viewer changes its own password (a wrong old one is refused without logging it off), an
 * administrator resets a user's password (the user's sessions end), and the pages, their inline
 * `style` widths, the simulator's PNG (a blob: picture) and the Swagger UI work without a single
 * policy violation.
 *
 * Needs the built app (`npm run build`) and /usr/bin/chromium (scripts/setup.sh installs it).
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { ADMIN, http, logon, testServer, waitTask, type TestServer } from './server-api.testing.ts';
import { launchBrowser, logonInBrowser, requireWebBuild, WEB_DIST, type Browser } from './web.testing.ts';

async function heading(page: Page, name: string | RegExp): Promise<void> {
  await page.getByRole('heading', { level: 1, name }).waitFor({ timeout: 15_000 });
}

/** The policy violations the page has seen (recorded by an init script, which no policy stops). */
async function violations(page: Page): Promise<string[]> {
  return page.evaluate(() => (globalThis as { cspViolations?: string[] }).cspViolations ?? []);
}

describe('Users page and content security policy in Chromium', () => {
  let s: TestServer;
  let b: Browser;
  let token: string;

  before(async () => {
    requireWebBuild();
    s = await testServer({ webRoot: WEB_DIST });
    token = await logon(s.url);
    const created = await http(s.url, 'POST', '/api/v1/users', {
      token,
      body: { name: 'vera', password: 'vera password', role: 'viewer' },
    });
    assert.equal(created.status, 201, JSON.stringify(created.body));
    // A repository with a restore point: the dashboard draws its usage bar (inline widths).
    const src = path.join(s.dir, 'src');
    mkdirSync(src);
    writeFileSync(path.join(src, 'f.txt'), 'hello\n');
    const repo = await http(s.url, 'POST', '/api/v1/repositories', {
      token,
      body: { name: 'main', location: path.join(s.dir, 'repo'), create: true },
    });
    assert.equal(repo.status, 201, JSON.stringify(repo.body));
    const job = await http(s.url, 'POST', '/api/v1/jobs', {
      token,
      body: { name: 'files', repository: 'main', sources: [src] },
    });
    const started = await http(s.url, 'POST', `/api/v1/jobs/${(job.body as { id: string }).id}/start`, {
      token,
    });
    assert.equal((await waitTask(s.url, token, (started.body as { id: string }).id)).result, 'success');
    b = await launchBrowser();
    // Run in the page before its own scripts; a string, as this file is compiled without the DOM.
    await b.context.addInitScript(`
      window.cspViolations = [];
      document.addEventListener('securitypolicyviolation', (e) =>
        window.cspViolations.push(e.violatedDirective + ' ' + e.blockedURI));
    `);
  });

  after(async () => {
    await b?.close();
    await s?.close();
  });

  it('lets a viewer change its own password, and refuses a wrong old one without logging it off', async () => {
    const { page } = b;
    await page.goto(s.url);
    await logonInBrowser(page, 'vera', 'vera password');
    await heading(page, 'Dashboard');
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Users' }).click();
    await heading(page, 'Users');
    assert.equal(await page.getByRole('heading', { name: /Users of tenant/ }).count(), 0, 'no user list');
    const form = page.getByRole('region', { name: 'Change my password' });
    await form.getByLabel('Current password').fill('not my password');
    await form.getByLabel('New password', { exact: true }).fill('vera new password');
    await form.getByLabel('Repeat the new password').fill('vera new password');
    await form.getByRole('button', { name: 'Change my password' }).click();
    const alert = form.getByRole('alert');
    await alert.waitFor({ timeout: 10_000 });
    assert.match(await alert.innerText(), /the old password is wrong/);
    assert.equal(await page.getByRole('navigation', { name: 'Main' }).count(), 1, 'still logged on');
    await form.getByLabel('Current password').fill('vera password');
    await form.getByRole('button', { name: 'Change my password' }).click();
    await form.getByText('Your password is changed').waitFor({ timeout: 10_000 });
    await page.getByRole('button', { name: 'Log off' }).click();
    await logonInBrowser(page, 'vera', 'vera new password');
    await heading(page, 'Dashboard');
    await page.getByRole('button', { name: 'Log off' }).click();
    await page.getByRole('button', { name: 'Log on' }).waitFor();
  });

  it("lets an administrator reset a user's password; the user's sessions end", async () => {
    const { page } = b;
    const veraToken = await logon(s.url, 'vera', 'vera new password');
    await logonInBrowser(page, ADMIN.user, ADMIN.password);
    await heading(page, 'Dashboard');
    await page.goto(`${s.url}/users`);
    await heading(page, 'Users');
    const row = page.getByRole('row', { name: /vera/ });
    assert.match(await row.innerText(), /logs on as vera@default/);
    assert.equal(
      await page.getByRole('button', { name: `Change user ${ADMIN.user}` }).count(),
      0,
      'not oneself',
    );
    await row.getByRole('button', { name: 'Change user vera' }).click();
    const form = page.getByRole('region', { name: 'Change user vera' });
    await form.getByLabel('New password').fill('vera reset password');
    await form.getByRole('button', { name: 'Save' }).click();
    await page.getByText(/new password is set and the sessions have ended/).waitFor({ timeout: 10_000 });
    assert.equal((await http(s.url, 'GET', '/api/v1/jobs', { token: veraToken })).status, 401);
    await logon(s.url, 'vera', 'vera reset password');
  });

  it('works under the content security policy: pages, inline widths, a blob: picture', async () => {
    const { page } = b;
    for (const [link, title] of [
      ['Dashboard', 'Dashboard'],
      ['Jobs', 'Jobs'],
      ['Runs', 'Runs'],
      ['Repositories', 'Repositories'],
      ['Users', 'Users'],
      ['Dashboard', 'Dashboard'],
    ] as const) {
      await page
        .getByRole('navigation', { name: 'Main' })
        .getByRole('link', { name: link, exact: true })
        .click();
      await heading(page, title);
    }
    // The usage bar's widths are inline styles set by React: they must take effect.
    const bar = page.locator('.usage-other').first();
    await bar.waitFor({ timeout: 15_000 });
    const width = (await bar.boundingBox())?.width ?? 0;
    assert.ok(width > 0, `the usage bar has a width (${width} px)`);
    await page.goto(`${s.url}/simulator?style=cairn&used=100GiB&points=7&start=2024-01-01T22:00:00Z`);
    await page.getByTestId('grand-total').waitFor({ timeout: 15_000 });
    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: 15_000 }),
      page.getByRole('button', { name: 'Download PNG' }).click(),
    ]);
    assert.match(download.suggestedFilename(), /\.png$/);
    assert.deepEqual(await violations(page), []);
    assert.deepEqual(b.problems, [], 'no errors in the page');
  });

  it('keeps the Swagger UI working under its own policy', async () => {
    const page = await b.context.newPage();
    try {
      await page.goto(`${s.url}/api/docs/`);
      await page.locator('.swagger-ui .info .title').filter({ hasText: 'Cairn server API' }).waitFor({
        timeout: 20_000,
      });
      await page.getByText('/api/v1/users/current/password').first().waitFor();
      // Swagger UI adds one <style> element at run time, which the plugin's policy refuses (as it
      // did before these headers); the page works without it. Nothing else is refused.
      assert.deepEqual(
        (await violations(page)).filter((v) => !/^style-src-elem inline$/.test(v)),
        [],
      );
    } finally {
      await page.close();
    }
  });
});
