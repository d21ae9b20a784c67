// Drives Debian's Chromium against a running zoneatlas on a fresh store, as
// a planner would: create a proposal from the map, draw a road in it, see
// the comparison and the change drawn over the record, while a second page
// on the record does not show it and a third, opened by the proposal's
// link, picks the road up by itself; then adopt, and the second page shows
// the road in the record. Prints one line per check and "N passed, M
// failed"; exits non-zero on a failure.
// Usage: node proposal.test.mjs http://127.0.0.1:PORT ADMIN_TOKEN SCREENSHOT
import { check, finish, hardStop, launch } from './harness.mjs';

const [base, token, shot] = process.argv.slice(2);
const killer = hardStop('the proposal test', 150_000);

const browser = await launch();
const consoleErrors = [];
const external = [];
// `lateScript`: a script of the page served last, 1.5 s after the rest (a
// slow link): the data arrive before it has run.
async function openPage(path = '/', signedIn = false, lateScript = null) {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  if (lateScript) await page.route(`**/${lateScript}`, async (route) => { await new Promise((r) => setTimeout(r, 1500)); await route.continue(); });
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  page.on('request', (r) => { if (!r.url().startsWith(base)) external.push(r.url()); });
  page.on('dialog', (d) => d.accept());
  if (signedIn) await page.addInitScript((t) => sessionStorage.setItem('zoneatlas-token', t), token);
  await page.goto(base + path, { waitUntil: 'load' });
  await page.waitForFunction(() => window.zoneatlas && window.zoneatlas.ready, null, { timeout: 30_000 });
  return page;
}
const clickAt = async (page, lon, lat, double = false) => {
  const p = await page.evaluate(([lo, la]) => {
    const m = window.zoneatlas.map;
    const pt = m.latLngToContainerPoint([la, lo]);
    const r = document.getElementById('map').getBoundingClientRect();
    return { x: r.left + pt.x, y: r.top + pt.y };
  }, [lon, lat]);
  if (double) await page.mouse.dblclick(p.x, p.y);
  else await page.mouse.click(p.x, p.y);
};
const hasRoad = (page, id) => page.evaluate((id) => Boolean(window.zoneatlas.app.features.roads?.[id]), id);

try {
  const page = await openPage('/', true);
  const record = await openPage('/');
  check('the proposals panel is on the page, in Chinese', await page.locator('#proposal').isVisible()
    && (await page.locator('#proposal-h').innerText()) === '方案'
    && (await page.locator('#proposal-new-form button').innerText()) === '新建方案');
  check('signed in, the panel offers a new proposal', await page.locator('#proposal-new-form').isVisible());

  // 1. A new proposal, from the panel: it opens, the bar says so.
  await page.fill('#proposal-new-title', '浏览器方案 Browser option');
  await page.click('#proposal-new-form button[type=submit]');
  await page.waitForFunction(() => window.zoneatlas.app.state.proposal && !document.getElementById('proposal-badge').hidden, null, { timeout: 10_000 });
  const id = await page.evaluate(() => window.zoneatlas.app.state.proposal);
  check('the new proposal is open and named in the bar', (await page.locator('#proposal-badge').innerText()).includes('浏览器方案'));
  check('the page\'s address opens it', (await page.evaluate(() => location.hash)).includes(`proposal=${id}`));
  const viewer = await openPage(`/?proposal=${encodeURIComponent(id)}`, false, 'proposals.js');
  check('its link opens it on another page, its script arriving last', await viewer.evaluate(() => window.zoneatlas.app.state.proposal) === id
    && await viewer.locator('#proposal-badge').isVisible());

  // 2. A road drawn in it, as any edit is drawn.
  await page.waitForSelector('#edit:not([hidden])');
  await page.selectOption('#new-collection', 'roads');
  await page.click('#new-draw');
  const pts = [[113.5400, 34.6900], [113.5450, 34.6920], [113.5500, 34.6905]];
  await page.evaluate(([lo, la]) => window.zoneatlas.map.setView([la, lo], 15, { animate: false }), pts[1]);
  for (const [lo, la] of pts.slice(0, 2)) await clickAt(page, lo, la);
  await clickAt(page, ...pts[2], true);
  await page.waitForSelector('#edit-form');
  await page.fill('#f-__id', 'R-PROPOSED-1');
  await page.fill('#edit-form input[name=name]', '方案路');
  await page.fill('#edit-form input[name=name_en]', 'Proposed Rd');
  await page.selectOption('#edit-form select[name=status]', 'planned');
  await page.selectOption('#edit-form select[name=class]', 'branch');
  await page.fill('#edit-form input[name=width_m]', '24');
  await page.fill('#edit-form input[name=source]', 'proposal');
  await page.click('#edit-form button[type=submit]');
  await page.waitForSelector('#edit-msg.yes', { timeout: 10_000 });
  check('the road is on the map in the proposal', await hasRoad(page, 'R-PROPOSED-1'));
  const inRecord = (await fetch(`${base}/api/collections/roads/items/R-PROPOSED-1`)).status;
  const inProposal = (await fetch(`${base}/api/collections/roads/items/R-PROPOSED-1?proposal=${id}`)).status;
  check('the record is untouched (404 there, 200 in the proposal)', inRecord === 404 && inProposal === 200, `${inRecord} / ${inProposal}`);
  await page.waitForFunction(() => (window.zoneatlas.proposalDrawn || 0) >= 1, null, { timeout: 10_000 }).catch(() => {});
  const counts = await page.locator('.proposal-counts').innerText().catch(() => '');
  check('the comparison counts the added road and draws it over the record', counts.includes('新增 1') && await page.evaluate(() => window.zoneatlas.proposalDrawn) === 1, counts);
  // A planned road counts once the planned works are built.
  await page.check('input[name=scenario][value=planned]');
  await page.waitForFunction(() => document.querySelectorAll('.proposal-zone tr[data-service]').length > 0, null, { timeout: 5_000 }).catch(() => {});
  const zoneRows = await page.locator('.proposal-zone tr[data-service]').evaluateAll((rs) => rs.map((r) => r.dataset.service));
  check('planned, the comparison shows the road coverage it adds', zoneRows.includes('road'), zoneRows.join(','));
  await page.check('input[name=scenario][value=current]');
  await page.waitForSelector('#proposal-log li', { state: 'attached', timeout: 5_000 }).catch(() => {});
  const logged = await page.locator('#proposal-log li').allTextContents();
  check('the proposal\'s own log names who drew what', logged.length === 1 && logged[0].includes('browser-planner') && logged[0].includes('roads/R-PROPOSED-1'), logged.join(' | '));
  check('the record\'s page does not show it', !(await hasRoad(record, 'R-PROPOSED-1')));
  const picked = await viewer.waitForFunction(() => Boolean(window.zoneatlas.app.features.roads?.['R-PROPOSED-1']), null, { timeout: 10_000 }).then(() => true, () => false);
  check('the page opened by the link picks up the edit by itself', picked);
  if (shot) await page.screenshot({ path: shot });

  // 3. In English, the panel says it in English.
  await page.click('#lang');
  const english = await page.locator('#proposal').innerText();
  check('the panel speaks English', english.includes('Compared with the record') && !/[\u4e00-\u9fff]/.test(english.replace('浏览器方案', '')), english.slice(0, 200));
  await page.click('#lang');

  // 4. Adopted from the panel: the record's page shows the road (live).
  await page.click('#proposal-body button[data-do=adopt]');
  await page.waitForFunction(() => window.zoneatlas.adopted, null, { timeout: 10_000 });
  check('adopting closes the proposal and says which revision', await page.evaluate(() => window.zoneatlas.app.state.proposal) === null
    && (await page.locator('.proposal-message').innerText()).includes(String(await page.evaluate(() => window.zoneatlas.adopted))));
  check('the record now has the road', (await fetch(`${base}/api/collections/roads/items/R-PROPOSED-1`)).status === 200);
  const live = await record.waitForFunction(() => Boolean(window.zoneatlas.app.features.roads?.['R-PROPOSED-1']), null, { timeout: 5_000 }).then(() => true, () => false);
  check('a second page on the record shows the adopted road', live);
  const listed = await page.locator('#proposal-select option').allInnerTexts();
  check('the proposal stays listed, adopted', listed.some((t) => t.includes('浏览器方案') && t.includes('已采纳')), listed.join(' | '));
  check('no console errors', consoleErrors.length === 0, consoleErrors.slice(0, 3).join(' | '));
  check('no request leaves the server', external.length === 0, external.slice(0, 3).join(' | '));
} catch (e) {
  check('the proposal test ran to the end', false, String(e?.stack || e));
} finally {
  clearTimeout(killer);
  await browser.close();
}
finish();
