/**
 * The web UI end to end, in Debian's Chromium against a server in this process: a wrong password
 * is refused with the server's message, logon, a job started from the browser and followed live
 * (SSE) until it finishes, the dashboard, a file found by name, downloaded and restored from the
 * restore browser and then found on disk, and logoff. Screenshots of the dashboard, the running
 * job and the restore browser go to test-results/web/ and docs/screenshots/.
 *
 * Needs the built app (`npm run build`) and /usr/bin/chromium (scripts/setup.sh installs it).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { ADMIN, http, logon, testServer, waitTask, type TestServer } from './server-api.testing.ts';
import { launchBrowser, logonInBrowser, requireWebBuild, screenshot, type Browser } from './web.testing.ts';

/** Megabytes of (incompressible) photos in the source: the backup runs for a few seconds. */
const PHOTO_MB = Number(process.env.CAIRN_WEB_TEST_MB ?? 320);

/** Enough data that the backup runs for a few seconds: live progress has time to show. */
function makeSource(dir: string): void {
  mkdirSync(path.join(dir, 'documents', 'reports'), { recursive: true });
  mkdirSync(path.join(dir, 'photos'), { recursive: true });
  mkdirSync(path.join(dir, 'mail'), { recursive: true });
  writeFileSync(path.join(dir, 'documents', 'notes.txt'), 'remember the milk\n');
  writeFileSync(
    path.join(dir, 'documents', 'reports', 'q3-report.txt'),
    'Quarter 3: all backups restored fine.\n',
  );
  for (let i = 0; i < PHOTO_MB / 8; i++)
    writeFileSync(path.join(dir, 'photos', `img-${String(i).padStart(4, '0')}.raw`), randomBytes(8 << 20));
  for (let i = 0; i < 3000; i++)
    writeFileSync(
      path.join(dir, 'mail', `msg-${String(i).padStart(5, '0')}.eml`),
      randomBytes(2048 + (i % 7) * 1024),
    );
}

/** Polls `ok` until it holds (30 s at most). */
async function until(ok: () => Promise<boolean>, what: string, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) assert.fail(`waited ${ms} ms for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function heading(page: Page, name: string | RegExp): Promise<void> {
  await page.getByRole('heading', { level: 1, name }).waitFor({ timeout: 15_000 });
}

describe('web UI in Chromium', () => {
  let s: TestServer;
  let b: Browser;
  let token: string;
  let source: string;
  let jobId: string;
  let repoId: string;

  before(async () => {
    requireWebBuild();
    s = await testServer();
    source = path.join(s.dir, 'source');
    makeSource(source);
    token = await logon(s.url);
    const repo = await http(s.url, 'POST', '/api/v1/repositories', {
      token,
      body: { name: 'main', location: path.join(s.dir, 'repo'), create: true },
    });
    assert.equal(repo.status, 201, JSON.stringify(repo.body));
    repoId = (repo.body as { id: string }).id;
    const job = await http(s.url, 'POST', '/api/v1/jobs', {
      token,
      body: {
        name: 'files',
        repository: 'main',
        sources: [source],
        schedule: { cron: '0 2 * * *', timezone: 'UTC' },
        retention: { keepDaily: 7, keepWeekly: 4, prune: true },
      },
    });
    assert.equal(job.status, 201, JSON.stringify(job.body));
    jobId = (job.body as { id: string }).id;
    // A job whose source is gone fails: the dashboard lists failures first.
    const gone = path.join(s.dir, 'gone');
    mkdirSync(gone);
    const broken = await http(s.url, 'POST', '/api/v1/jobs', {
      token,
      body: { name: 'laptop', repository: 'main', sources: [gone], schedule: { cron: '30 1 * * *' } },
    });
    assert.equal(broken.status, 201, JSON.stringify(broken.body));
    rmSync(gone, { recursive: true });
    const started = await http(s.url, 'POST', `/api/v1/jobs/${(broken.body as { id: string }).id}/start`, {
      token,
    });
    assert.equal(started.status, 202);
    const task = await waitTask(s.url, token, (started.body as { id: string }).id);
    assert.equal(task.result, 'failed');
    b = await launchBrowser();
  });

  after(async () => {
    await b?.close();
    await s?.close();
  });

  it('refuses a wrong password with the server’s message', async () => {
    // A page of its own: were the browser to show its Basic dialog, only this page would wait.
    const page = await b.context.newPage();
    try {
      await page.goto(s.url);
      await page.getByRole('heading', { name: 'Cairn' }).waitFor();
      await logonInBrowser(page, ADMIN.user, 'wrong password');
      const alert = page.getByRole('alert');
      await alert.waitFor({ timeout: 10_000 });
      assert.match(await alert.innerText(), /The user name or password is wrong/);
      assert.equal(
        await page.getByRole('navigation', { name: 'Main' }).count(),
        0,
        'no navigation before logon',
      );
      assert.equal(await page.getByLabel('Password').inputValue(), '', 'the password field is emptied');
    } finally {
      await page.close();
    }
  });

  it('logs on with a cookie session', async () => {
    const { page, context } = b;
    await page.goto(s.url);
    await logonInBrowser(page, ADMIN.user, ADMIN.password);
    await heading(page, 'Dashboard');
    const nav = page.getByRole('navigation', { name: 'Main' });
    for (const name of ['Dashboard', 'Jobs', 'Runs', 'Restore', 'Repositories', 'Users'])
      assert.equal(await nav.getByRole('link', { name, exact: true }).count(), 1, name);
    const cookies = await context.cookies(s.url);
    const session = cookies.find((c) => c.name === 'cairn_session');
    assert.ok(session?.httpOnly, 'the session cookie is HttpOnly');
    assert.equal(session.sameSite, 'Strict');
    // A reload keeps the session (asked from /sessions/current).
    await page.reload();
    await heading(page, 'Dashboard');
  });

  it('starts a job and follows it live until it finishes', async () => {
    const { page } = b;
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Jobs' }).click();
    await heading(page, 'Jobs');
    await page.getByRole('button', { name: 'Start files now' }).click();
    await page.waitForURL(/\/runs\/[0-9a-f-]+$/);
    await heading(page, /Backup files · run/);
    // Live: the progress pushed by the server, with units, while the run is running.
    const live = page.getByRole('list', { name: 'Live progress' });
    await live.waitFor({ timeout: 30_000 });
    const runId = page.url().split('/').pop()!;
    // Wait until a good part is read (a chart with a shape), while it still runs.
    await until(async () => {
      const run = await http(s.url, 'GET', `/api/v1/runs/${runId}`, { token });
      const { state, progress } = run.body as { state: string; progress: { bytes: number } | null };
      if (state !== 'running' && state !== 'queued')
        assert.fail(`the backup ended (${state}) before the test saw it run: raise CAIRN_WEB_TEST_MB`);
      const read = progress?.bytes ?? 0;
      const text = await live.innerText();
      return (
        read >= PHOTO_MB * 0.3e6 &&
        /[1-9][0-9,]* files/.test(text) &&
        /MB\/s/.test(text) &&
        (await page.locator('.chart path.line').count()) > 0
      );
    }, 'live progress with files, MB/s and a throughput line');
    assert.equal(
      await page.locator('.run-state .badge.state-running').count(),
      1,
      'the run is still running',
    );
    assert.match(await page.locator('.feed').innerText(), /live/);
    await screenshot(page, 'run-live', { docs: true });
    // The end arrives by the same stream: state, statistics, bottleneck, the whole log.
    await page.locator('.run-state .badge.state-success').waitFor({ timeout: 180_000 });
    const stats = page.locator('.facts.stats');
    await stats.waitFor();
    const text = await stats.innerText();
    assert.match(text, /3,0\d\d files/, text);
    assert.match(text, /MB\/s/);
    await page.getByRole('meter', { name: /Source/ }).waitFor();
    await page
      .getByRole('log', { name: 'Run log' })
      .getByText(/restore point [0-9a-f]+ saved/)
      .waitFor();
    await screenshot(page, 'run-finished');
  });

  it('shows the dashboard with failures first', async () => {
    const { page } = b;
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Dashboard' }).click();
    await heading(page, 'Dashboard');
    const tiles = page.getByRole('list', { name: 'Runs of the last 24 hours by state' });
    await tiles.waitFor();
    const labels = await tiles.locator('.tile-label').allInnerTexts();
    assert.equal(labels[0], 'failed');
    assert.equal(await tiles.locator('.state-failed .tile-count').innerText(), '1');
    assert.equal(await tiles.locator('.state-success .tile-count').innerText(), '1');
    await page.getByRole('link', { name: /laptop ·/ }).waitFor();
    await page.getByText('not configured').waitFor();
    await page
      .getByRole('img', { name: /Growth: .* MB stored by the last 1 restore point/ })
      .waitFor({ timeout: 30_000 });
    await screenshot(page, 'dashboard', { docs: true });
  });

  it('finds, downloads and restores one file from the restore browser', async () => {
    const { page } = b;
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Restore' }).click();
    await heading(page, 'Restore');
    await page.getByLabel('Job').selectOption('files');
    // The restore point of one folder opens at that folder.
    await page.getByRole('button', { name: 'Open folder documents' }).waitFor({ timeout: 30_000 });
    // Search by name across restore points, then show the hit's folder.
    await page.getByLabel('Name or pattern').fill('q3-report');
    await page.getByRole('button', { name: 'Search all restore points' }).click();
    const hit = page.getByRole('row', { name: /q3-report\.txt/ });
    await hit.waitFor({ timeout: 30_000 });
    await hit.getByRole('button', { name: 'Show' }).click();
    await page.getByRole('checkbox', { name: 'Mark q3-report.txt for restore' }).waitFor();
    // Download it.
    const [download] = await Promise.all([
      page.waitForEvent('download'),
      page.getByRole('link', { name: 'Download q3-report.txt' }).click(),
    ]);
    const saved = path.join(s.dir, 'downloaded.txt');
    await download.saveAs(saved);
    assert.equal(readFileSync(saved, 'utf8'), 'Quarter 3: all backups restored fine.\n');
    // Mark it and restore it to another folder.
    await page.getByRole('checkbox', { name: 'Mark q3-report.txt for restore' }).check();
    await page.getByLabel('another folder').check();
    const target = path.join(s.dir, 'restored');
    await page.getByLabel('Folder on the server').fill(target);
    await page.getByLabel('When a file is already there').selectOption('never');
    await screenshot(page, 'restore-browser', { docs: true });
    await page.getByRole('button', { name: 'Restore 1 item' }).click();
    await page.getByText('Restore finished').waitFor({ timeout: 60_000 });
    assert.equal(await page.locator('.task-state .badge.state-success').count(), 1);
    const file = path.join(target, source, 'documents', 'reports', 'q3-report.txt');
    assert.ok(existsSync(file), `${file} was restored`);
    assert.equal(readFileSync(file, 'utf8'), 'Quarter 3: all backups restored fine.\n');
    assert.ok(!existsSync(path.join(target, source, 'documents', 'notes.txt')), 'only the marked file');
  });

  it('keeps the server’s message for a refused change, and logs off', async () => {
    const { page, context } = b;
    await page.goto(`${s.url}/jobs/${jobId}/edit`);
    await heading(page, /Edit job files/);
    await page.getByLabel('Cron expression').fill('0 25 * * *');
    await page
      .getByText(/not a valid cron expression/)
      .first()
      .waitFor();
    await page.getByRole('link', { name: 'Cancel' }).click();
    await heading(page, 'Job files');
    await page.getByRole('button', { name: 'Log off' }).click();
    await page.getByRole('button', { name: 'Log on' }).waitFor();
    const cookies = await context.cookies(s.url);
    assert.ok(!cookies.some((c) => c.name === 'cairn_session' && c.value), 'the session cookie is cleared');
    assert.deepEqual(b.problems, [], 'no errors in the page');
    assert.ok(repoId);
  });
});
