/**
 * The dashboard lists overdue jobs first, in Debian's Chromium: a job scheduled every two seconds
 * whose repository has gone away (grace 0 s) shows under "Overdue jobs" with a link to it, and the
 * card goes once a run succeeds again. Needs the built app (`npm run build`).
 */
import assert from 'node:assert/strict';
import { mkdirSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ADMIN, http, logon, testServer, type TestServer } from './server-api.testing.ts';
import { launchBrowser, logonInBrowser, requireWebBuild, screenshot, type Browser } from './web.testing.ts';

describe('web UI: overdue jobs on the dashboard', () => {
  let s: TestServer;
  let b: Browser;
  let repo: string;
  let away: string;

  before(async () => {
    requireWebBuild();
    s = await testServer({ overdueGraceSeconds: 0, overdueCheckSeconds: 0.5 });
    const token = await logon(s.url);
    const source = path.join(s.dir, 'source');
    mkdirSync(source);
    writeFileSync(path.join(source, 'a.txt'), 'alpha\n');
    repo = path.join(s.dir, 'repo');
    away = path.join(s.dir, 'repo-unplugged');
    const r = await http(s.url, 'POST', '/api/v1/repositories', {
      token,
      body: { name: 'usb', location: repo, create: true },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    renameSync(repo, away);
    const job = await http(s.url, 'POST', '/api/v1/jobs', {
      token,
      body: { name: 'laptop', repository: 'usb', sources: [source], schedule: { cron: '*/2 * * * * *' } },
    });
    assert.equal(job.status, 201, JSON.stringify(job.body));
    b = await launchBrowser();
  });
  after(async () => {
    await b?.close();
    await s?.close();
  });

  it('lists an overdue job first, until a run succeeds', async () => {
    const { page } = b;
    await page.goto(s.url);
    await logonInBrowser(page, ADMIN.user, ADMIN.password);
    // The dashboard refreshes every 10 s: the job becomes overdue some 4 s after it was made.
    const list = page.getByRole('list', { name: 'Overdue jobs' });
    await list.waitFor({ timeout: 30_000 });
    assert.match(await list.innerText(), /overdue\s+laptop\s+No successful run yet; missed its time of /);
    assert.equal(await list.getByRole('link', { name: 'laptop' }).getAttribute('href'), await jobHref());
    const cards = await page.locator('main .card h2').allInnerTexts();
    assert.equal(cards[0], 'Overdue jobs', `first card: ${cards.join(', ')}`);
    await screenshot(page, 'dashboard-overdue', { docs: true });

    renameSync(away, repo);
    await list.waitFor({ state: 'detached', timeout: 30_000 });
    assert.deepEqual(b.problems, []);
  });

  async function jobHref(): Promise<string> {
    const token = await logon(s.url);
    const jobs = (await http(s.url, 'GET', '/api/v1/jobs', { token })).body as { data: { id: string }[] };
    return `/jobs/${jobs.data[0]!.id}`;
  }
});
