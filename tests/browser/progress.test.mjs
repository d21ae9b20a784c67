// Drives Debian's Chromium against a zoneatlas whose zone is still being
// computed (a synthetic city, opened at once after start-up): the
// statistics panel says how far the computation got, in per cent, and
// shows the statistics by itself once it is done.
// Usage: node progress.test.mjs http://127.0.0.1:PORT
import { check, finish, hardStop, launch } from './harness.mjs';

const base = process.argv[2];
const killer = hardStop('the progress test', 150_000);
const browser = await launch();
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await page.goto(base + '/', { waitUntil: 'load' });
  // While the zone is computed the panel says so with a per cent.
  const shown = await page.waitForFunction(
    () => /\d+%/.test(document.getElementById('stats-computing')?.textContent || ''),
    null, { timeout: 60_000 },
  ).then(() => true, () => false);
  const text = await page.locator('#stats-computing').textContent().catch(() => '');
  check('the statistics panel says how far the zone got', shown, text);
  const done = await page.waitForFunction(
    () => document.querySelector('#stats-body .stats-table'),
    null, { timeout: 120_000 },
  ).then(() => true, () => false);
  check('and shows the statistics by itself once it is done', done);
} catch (e) {
  check('the progress test ran to the end', false, String(e?.stack || e));
} finally {
  clearTimeout(killer);
  await browser.close();
}
finish();
