/**
 * The simulator's web page in Debian's Chromium against a server in this process: a share URL
 * opened after logon runs by itself and shows the engine's own totals, the chain's picture
 * downloads as a PNG, and an RPS link opens with its ignored parameters listed and is replaced by
 * Cairn's share string.
 *
 * Needs the built app (`npm run build`) and /usr/bin/chromium (scripts/setup.sh installs it).
 */
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseRpsQuery, parseShareQuery, simulate, toShareQuery } from '../../src/simulate/index.ts';
import { ADMIN, testServer, type TestServer } from './server-api.testing.ts';
import {
  ARTEFACTS,
  launchBrowser,
  logonInBrowser,
  requireWebBuild,
  screenshot,
  type Browser,
} from './web.testing.ts';

/** The page's binary units (web/src/sim-chart.tsx). */
function gib(n: number): string {
  const GIB = 2 ** 30;
  if (n >= 1024 * GIB) return `${(n / 1024 / GIB).toFixed(2)} TiB`;
  if (n >= GIB) return `${(n / GIB).toFixed(1)} GiB`;
  return `${(n / 2 ** 20).toFixed(1)} MiB`;
}

const SHARE = 'style=backup-copy&used=300GiB&points=7&gfs=2w,3m,0q,0y&start=2024-01-01T22:00:00Z';
const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

describe('simulator page in Chromium', () => {
  let s: TestServer;
  let b: Browser;

  before(async () => {
    requireWebBuild();
    s = await testServer();
    b = await launchBrowser();
  });

  after(async () => {
    await b?.close();
    await s?.close();
  });

  it('runs a share URL by itself and shows the engine’s totals', async () => {
    const { page } = b;
    await page.goto(`${s.url}/simulator?${SHARE}`);
    await logonInBrowser(page, ADMIN.user, ADMIN.password);
    await page
      .getByRole('heading', { level: 1, name: 'Restore point simulator' })
      .waitFor({ timeout: 15_000 });
    const expected = simulate(parseShareQuery(SHARE));
    const grand = page.getByTestId('grand-total');
    await grand.waitFor({ timeout: 15_000 });
    assert.equal(await grand.innerText(), gib(expected.totals.grandTotal));
    const totals = await page.getByLabel('Totals').innerText();
    assert.ok(totals.includes(gib(expected.totals.total)), totals);
    assert.ok(totals.includes(gib(expected.totals.workingSpace)), totals);
    // The URL is the state: the form shows it, the share link reproduces it.
    assert.equal(await page.getByLabel('GFS archives to keep').inputValue(), '2w,3m,0q,0y');
    assert.equal(await page.getByLabel('Share link').inputValue(), `${s.url}/simulator?${SHARE}`);
    assert.equal(await page.getByRole('img', { name: /files at the worst case/ }).count(), 1);
    assert.equal(await page.getByRole('table', { name: 'Bandwidth' }).getByRole('row').count(), 7);
    await screenshot(page, 'simulator');
  });

  it('downloads the chain’s picture as a PNG', async () => {
    const { page } = b;
    const [download] = await Promise.all([
      page.waitForEvent('download', { timeout: 15_000 }),
      page.getByRole('button', { name: 'Download PNG' }).click(),
    ]);
    assert.equal(download.suggestedFilename(), 'cairn-simulation-backup-copy.png');
    const file = await download.path();
    const bytes = readFileSync(file);
    assert.ok(bytes.length > 1000, `a PNG of ${bytes.length} bytes`);
    assert.deepEqual(bytes.subarray(0, 8), PNG_SIGNATURE);
    mkdirSync(ARTEFACTS, { recursive: true });
    await download.saveAs(path.join(ARTEFACTS, 'simulator-chain.png'));
  });

  it('opens an RPS link, lists what it ignored and rewrites it as Cairn’s share string', async () => {
    const { page } = b;
    const rps = 'm=1&s=500&r=10&c=60&d=5&i=D&g=4,12,0,1&ctce=1&e';
    await page.goto(`${s.url}/simulator?${rps}`);
    const grand = page.getByTestId('grand-total');
    await grand.waitFor({ timeout: 15_000 });
    const imported = parseRpsQuery(rps, { defaultStart: '2030-01-01T22:00:00Z' });
    const status = await page.getByRole('status').innerText();
    assert.match(status, /Imported from an RPS link/);
    for (const g of imported.ignored) assert.ok(status.includes(g.param), `${g.param} listed: ${status}`);
    assert.ok(
      imported.ignored.some((g) => g.param === 'g'),
      'g does not apply to style 1',
    );
    // The start is tomorrow by the browser's clock; everything else is the RPS link's.
    const url = new URL(page.url());
    const input = parseShareQuery(url.search);
    assert.equal(input.style, 'incremental');
    assert.equal(input.usedBytes, 500 * 2 ** 30);
    const expected = simulate(input);
    assert.equal(new URLSearchParams(url.search).toString(), toShareQuery(input));
    assert.doesNotMatch(url.search, /%2C|%3A/, 'commas and colons stay readable');
    assert.equal(await grand.innerText(), gib(expected.totals.grandTotal));
  });

  it('changes the run from the form, and the URL follows', async () => {
    const { page } = b;
    // The placeholder is the default the style would get: 14, and 7 for a backup copy.
    const points = page.getByLabel('Restore points');
    const style = page.getByLabel('Backup style');
    const was = await style.inputValue();
    await style.selectOption('backup-copy');
    assert.equal(await points.getAttribute('placeholder'), '7');
    await style.selectOption('incremental');
    assert.equal(await points.getAttribute('placeholder'), '14');
    await style.selectOption(was);
    await page.getByLabel('Restore points').fill('21');
    await page.getByRole('button', { name: 'Simulate' }).click();
    await page.waitForURL(/points=21/, { timeout: 15_000 });
    const input = parseShareQuery(new URL(page.url()).search);
    assert.equal(input.points, 21);
    const grand = page.getByTestId('grand-total');
    const want = gib(simulate(input).totals.grandTotal);
    await page.getByTestId('grand-total').filter({ hasText: want }).waitFor({ timeout: 15_000 });
    assert.equal(await grand.innerText(), want);
    assert.equal(await page.getByText('Imported from an RPS link').count(), 0);
    assert.deepEqual(b.problems, []);
  });
});
