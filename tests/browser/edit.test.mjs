// Drives Debian's Chromium against a running zoneatlas on a fresh store:
// sign in, edit a property, a conflict between two pages, a new line drawn
// and saved, a delete, the time slider, live updates from another page.
// Prints one line per check and "N passed, M failed"; exits non-zero on a
// failure. Usage: node edit.test.mjs http://127.0.0.1:PORT EDITOR_TOKEN
import { check, finish, hardStop, launch } from './harness.mjs';

const base = process.argv[2];
const token = process.argv[3];
const killer = hardStop('the editing test', 150_000);
const api = async (path) => (await fetch(base + path)).json();

const browser = await launch();
const consoleErrors = [];
const external = [];
async function openPage() {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  // Chromium logs every 4xx answer as a console error; the conflict step
  // provokes a 412 on purpose, so that one is not a fault of the page.
  page.on('console', (m) => { if (m.type() === 'error' && !m.text().includes('status of 412')) consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  page.on('request', (r) => { if (!r.url().startsWith(base)) external.push(r.url()); });
  page.on('dialog', (d) => d.accept());
  await page.goto(base + '/', { waitUntil: 'load' });
  await page.waitForFunction(() => window.zoneatlas && window.zoneatlas.ready, null, { timeout: 30_000 });
  return page;
}
// Sign in as a user does: keyboard to the button, the dialog, the token.
async function signIn(page) {
  await page.focus('#lang');
  await page.keyboard.press('Tab');
  await page.keyboard.press('Enter');
  await page.waitForSelector('#signin-dialog[open]');
  const focused = await page.evaluate(() => document.activeElement?.id);
  await page.keyboard.type(token);
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => document.getElementById('who').textContent.includes('browser-editor'));
  return focused;
}
const status = (page, c, id) => page.evaluate(([c, id]) => window.zoneatlas.app.features[c]?.[id]?.properties.status, [c, id]);
// The newest popup's button (a closed one may still be fading out).
const popupButton = (page, action) => page.locator(`.leaflet-popup .popup-actions button[data-action=${action}]`).last().click();
async function editFromPopup(page, c, id) {
  await page.evaluate(([c, id]) => window.zoneatlas.app.openPopup(c, id), [c, id]);
  await popupButton(page, 'edit');
  await page.waitForSelector('#edit-form');
}
// A click (or, with `double`, a double-click) at a lon/lat on the map.
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

try {
  const page = await openPage();
  const focused = await signIn(page);
  check('sign-in by keyboard: Tab reaches the button, the dialog focuses the token field', focused === 'token-input');
  check('signed in as an editor', (await page.locator('#who').innerText()).includes('editor'));
  const unlabelled = await page.evaluate(() => [...document.querySelectorAll('#signin-dialog input')].filter((i) => !document.querySelector(`label[for="${i.id}"]`)).length);
  check('the sign-in field is labelled', unlabelled === 0);

  // 1. A planned road goes under construction; the statistics move.
  const roads = (await api('/api/collections/roads/items?status=planned&limit=1')).features;
  const road = String(roads[0].id);
  const before = await api('/api/stats');
  await editFromPopup(page, 'roads', road);
  const labels = await page.evaluate(() => [...document.querySelectorAll('#edit-form [data-type]')].every((i) => document.querySelector(`label[for="${i.id}"]`)));
  check('every form field has a label', labels);
  check('status is offered as a choice', await page.locator('#edit-form select[name=status]').count() === 1);
  check('numbers are number inputs', await page.locator('#edit-form input[name=width_m][type=number]').count() === 1);
  await page.selectOption('#edit-form select[name=status]', 'under_construction');
  await page.click('#edit-form button[type=submit]');
  await page.waitForSelector('#edit-msg.yes');
  const stored = await api(`/api/collections/roads/items/${road}`);
  check('the edit is stored', stored.properties.status === 'under_construction');
  const after = await api('/api/stats');
  check('the API statistics moved', after.road.by_status.planned.count === before.road.by_status.planned.count - 1
    && after.road.by_status.under_construction.count === before.road.by_status.under_construction.count + 1);
  // The panel's road row, under-construction column (the scenarios' order).
  const col = (await api('/api')).scenarios.planned.indexOf('under_construction') + 2;
  const shown = await page.waitForFunction(([n, k]) => {
    const cell = document.querySelector(`#stats-body tr[data-service=road] td:nth-child(${k})`);
    return cell && cell.innerText.includes(`(${n} `);
  }, [after.road.by_status.under_construction.count, col], { timeout: 5000 }).then(() => true).catch(() => false);
  check('the statistics panel shows the new count', shown);
  check('the map redraws the road as under construction', await status(page, 'roads', road) === 'under_construction');

  // 2. A second page sees the change live, and a conflict between the two.
  const other = await openPage();
  await signIn(other);
  const target = String((await api('/api/collections/roads/items?status=existing&limit=1')).features[0].id);
  await editFromPopup(page, 'roads', target);
  await editFromPopup(other, 'roads', target);
  await other.fill('#edit-form input[name=name_en]', 'Renamed by the other page');
  await other.click('#edit-form button[type=submit]');
  await other.waitForSelector('#edit-msg.yes');
  // The first page's open form is told before it saves.
  const told = await page.waitForSelector('#edit-stale .stale', { timeout: 3000 }).then(() => true).catch(() => false);
  check('an open form is told its feature changed underneath', told && (await page.locator('#edit-stale').innerText()).includes('browser-editor'));
  await page.fill('#edit-form input[name=width_m]', '31');
  await page.click('#edit-form button[type=submit]');
  await page.waitForSelector('.conflict', { timeout: 5000 });
  const conflict = await page.locator('.conflict').innerText();
  check('a stale save shows a conflict naming who saved first', conflict.includes('browser-editor') && conflict.includes('31'), conflict.slice(0, 120));
  check('the conflict lists what they changed that I did not, kept, values unquoted', conflict.includes('Renamed by the other page') && !conflict.includes('"31"') && !conflict.includes('"Renamed'), conflict.replace(/\s+/g, ' ').slice(0, 200));
  await page.click('#conflict-reapply');
  await page.waitForSelector('#edit-msg.yes');
  const merged = await api(`/api/collections/roads/items/${target}`);
  check('reapplying keeps both edits', merged.properties.name_en === 'Renamed by the other page' && merged.properties.width_m === 31);

  // Live: the other page shows this page's edit within a second.
  const liveBefore = await other.evaluate(() => window.zoneatlas.liveApplied || 0);
  const liveRoad = String((await api('/api/collections/roads/items?status=planned&limit=1')).features[0].id);
  await editFromPopup(page, 'roads', liveRoad);
  await page.selectOption('#edit-form select[name=status]', 'under_construction');
  const savedAt = Date.now();
  await page.click('#edit-form button[type=submit]');
  let liveOk = true;
  try {
    await other.waitForFunction(([c, id, n]) => window.zoneatlas.app.features[c]?.[id]?.properties.status === 'under_construction' && (window.zoneatlas.liveApplied || 0) > n,
      ['roads', liveRoad, liveBefore], { timeout: 1000 });
  } catch { liveOk = false; }
  check('another page shows the change within a second, without a reload', liveOk, `${Date.now() - savedAt} ms`);
  await page.waitForSelector('#edit-msg.yes');

  // 3. Draw a new road (two clicks, a double-click on the last point, as a
  // user ends a line), fill the form, save.
  await page.evaluate(() => window.zoneatlas.map.closePopup());
  check('a new feature goes into a line layer by default', await page.locator('#new-collection').inputValue() === 'roads');
  await page.selectOption('#new-collection', 'roads');
  await page.click('#new-draw');
  const pts = [[113.5400, 34.6900], [113.5450, 34.6920], [113.5500, 34.6905]];
  await page.evaluate(([lo, la]) => window.zoneatlas.map.setView([la, lo], 15, { animate: false }), pts[1]);
  for (const [lo, la] of pts.slice(0, 2)) await clickAt(page, lo, la);
  await clickAt(page, ...pts[2], true);
  await page.waitForSelector('#edit-form');
  // The class offers the layer's classes by title; the length is computed.
  const classes = await page.locator('#edit-form select[name=class] option').evaluateAll((os) => os.map((o) => o.value));
  check('the class is a choice of the styled classes', ['trunk', 'secondary', 'branch'].every((c) => classes.includes(c)), classes.join(','));
  const lengthField = page.locator('#edit-form input[name=length_m]');
  const shownLength = Number(await lengthField.inputValue());
  check('the length is computed and read-only', shownLength > 0 && await lengthField.evaluate((el) => el.readOnly), String(shownLength));
  await page.fill('#f-__id', 'R-BROWSER-1');
  await page.fill('#edit-form input[name=name]', '浏览器路');
  await page.fill('#edit-form input[name=name_en]', 'Browser Rd');
  await page.selectOption('#edit-form select[name=status]', 'planned');
  await page.selectOption('#edit-form select[name=class]', 'branch');
  await page.fill('#edit-form input[name=width_m]', '12');
  await page.fill('#edit-form input[name=source]', 'illustrative');
  await page.click('#edit-form button[type=submit]');
  await page.waitForSelector('#edit-msg.yes');
  const drawn = await fetch(`${base}/api/collections/roads/items/R-BROWSER-1`).then((r) => r.json());
  const c = drawn.geometry?.coordinates || [];
  // The stored length against Vincenty's inverse on WGS84 (an oracle
  // independent of the page's local ruler), along the stored vertices.
  const vincenty = ([l1, p1], [l2, p2]) => {
    const a = 6378137, f = 1 / 298.257223563, b = a * (1 - f), r = Math.PI / 180;
    const L = (l2 - l1) * r, U1 = Math.atan((1 - f) * Math.tan(p1 * r)), U2 = Math.atan((1 - f) * Math.tan(p2 * r));
    let lam = L, sinS, cosS, sig, cos2a, cos2sm;
    for (let i = 0; i < 200; i++) {
      const sl = Math.sin(lam), cl = Math.cos(lam);
      sinS = Math.hypot(Math.cos(U2) * sl, Math.cos(U1) * Math.sin(U2) - Math.sin(U1) * Math.cos(U2) * cl);
      cosS = Math.sin(U1) * Math.sin(U2) + Math.cos(U1) * Math.cos(U2) * cl;
      sig = Math.atan2(sinS, cosS);
      const sa = (Math.cos(U1) * Math.cos(U2) * sl) / sinS;
      cos2a = 1 - sa * sa;
      cos2sm = cosS - (2 * Math.sin(U1) * Math.sin(U2)) / cos2a;
      const C = (f / 16) * cos2a * (4 + f * (4 - 3 * cos2a));
      const prev = lam;
      lam = L + (1 - C) * f * sa * (sig + C * sinS * (cos2sm + C * cosS * (-1 + 2 * cos2sm * cos2sm)));
      if (Math.abs(lam - prev) < 1e-12) break;
    }
    const u2 = (cos2a * (a * a - b * b)) / (b * b);
    const A = 1 + (u2 / 16384) * (4096 + u2 * (-768 + u2 * (320 - 175 * u2)));
    const B = (u2 / 1024) * (256 + u2 * (-128 + u2 * (74 - 47 * u2)));
    const dS = B * sinS * (cos2sm + (B / 4) * (cosS * (-1 + 2 * cos2sm * cos2sm) - (B / 6) * cos2sm * (-3 + 4 * sinS * sinS) * (-3 + 4 * cos2sm * cos2sm)));
    return b * A * (sig - dS);
  };
  const cs = drawn.geometry?.coordinates || [];
  const want = cs.slice(1).reduce((m, p, i) => m + vincenty(cs[i], p), 0);
  check('the stored length_m is the line\'s geodesic length (within 0.05%)', Math.abs(drawn.properties.length_m - want) <= want * 5e-4 + 0.1, `${drawn.properties.length_m} vs ${want.toFixed(1)}`);
  check('the drawn line is stored with its three vertices', c.length === 3 && c.every((p, i) => Math.abs(p[0] - pts[i][0]) < 2e-4 && Math.abs(p[1] - pts[i][1]) < 2e-4), JSON.stringify(c));
  check('and appears on the map', await status(page, 'roads', 'R-BROWSER-1') === 'planned');
  check('the other page gets it too', await other.waitForFunction(() => Boolean(window.zoneatlas.app.features.roads['R-BROWSER-1']), null, { timeout: 2000 }).then(() => true, () => false));

  // 4. Delete it (after confirming), from its popup.
  await page.evaluate(() => window.zoneatlas.app.openPopup('roads', 'R-BROWSER-1'));
  await popupButton(page, 'delete');
  // The save's message is still shown until the delete answers: wait for
  // the panel to be replaced (the delete's own message), not for any .yes.
  await page.waitForFunction(() => document.querySelector('#edit-msg.yes') && !document.querySelector('#edit-form'), null, { timeout: 10_000 });
  let gone = false;
  for (let i = 0; i < 50 && !gone; i++) {
    gone = (await fetch(`${base}/api/collections/roads/items/R-BROWSER-1`)).status === 404;
    if (!gone) await new Promise((r) => setTimeout(r, 100));
  }
  check('a confirmed delete removes the feature', gone);
  check('and the map no longer draws it', await page.waitForFunction(() => !window.zoneatlas.app.features.roads['R-BROWSER-1'], null, { timeout: 3000 }).then(() => true, () => false));

  // 5. History in the popup's panel.
  await page.evaluate((id) => window.zoneatlas.app.openPopup('roads', id), road);
  await popupButton(page, 'history');
  await page.waitForSelector('#history-body li');
  check('a feature\'s history lists its versions', await page.locator('#history-body li').count() >= 2);
  check('and its popup shows them too', await page.locator('.leaflet-popup .popup-history li').count() >= 2);

  // 6. The time slider: yesterday the road was planned; now it is not.
  const applied = await page.evaluate(() => window.zoneatlas.timeApplied || 0);
  await page.focus('#time-range');
  await page.keyboard.press('ArrowLeft');
  await page.waitForFunction((n) => (window.zoneatlas.timeApplied || 0) > n, applied, { timeout: 10_000 });
  check('the slider back a day shows the road planned again', await status(page, 'roads', road) === 'planned');
  check('the label says the date', (await page.locator('#time-label').innerText()).match(/\d{4}-\d{2}-\d{2}/) !== null);
  check('editing is off in the past', await page.locator('#new-draw').isDisabled());
  const early = await page.evaluate(() => window.zoneatlas.timeApplied);
  await page.keyboard.press('Home');
  await page.waitForFunction((n) => window.zoneatlas.timeApplied > n, early, { timeout: 10_000 });
  const count = await page.evaluate(() => Object.keys(window.zoneatlas.app.features.roads).length);
  check('at the import the map holds the roads of then (57, before five were added)', count === 57, `${count}`);
  const back = await page.evaluate(() => window.zoneatlas.timeApplied);
  await page.click('#time-now');
  await page.waitForFunction((n) => window.zoneatlas.timeApplied > n, back, { timeout: 10_000 });
  check('back to now: under construction again', await status(page, 'roads', road) === 'under_construction');

  // 7. The progress chart, and English.
  check('the progress chart draws bars', await page.locator('#progress-body svg rect').count() >= 10);
  // Its axis: a top tick at or above the tallest stack (from the API), in km.
  const prog = await api('/api/stats/progress?collection=roads&step=quarter');
  const tallest = Math.max(...prog.steps.map((s) => Object.values(s.by_status).reduce((a, x) => a + (x.length_km || 0), 0)));
  const ticks = await page.locator('#progress-body svg text.tick').evaluateAll((ts) => ts.map((x) => x.textContent));
  const topTick = Math.max(...ticks.map((x) => Number(x.replace(/,/g, ''))).filter(Number.isFinite));
  check('the progress chart has a km axis reaching the tallest bar', topTick >= tallest && topTick < tallest * 2 + 1 && (await page.locator('#progress-body svg text.unit').textContent()) !== '', `top ${topTick} for ${tallest.toFixed(1)} km`);
  await page.click('#lang');
  await editFromPopup(page, 'roads', road);
  check('the form speaks English', (await page.locator('#edit-form button[type=submit]').innerText()) === 'Save');

  check('no console errors', consoleErrors.length === 0, consoleErrors.slice(0, 3).join(' | '));
  check('no external requests', external.length === 0, external.slice(0, 3).join(' '));
} catch (e) {
  // What the first page showed, to tell why.
  const pages = browser.contexts().flatMap((c) => c.pages());
  const panel = pages.length ? await pages[0].evaluate(() => document.getElementById('edit-body')?.innerHTML.slice(0, 400)).catch(() => '') : '';
  check('the test ran to its end', false, `${String(e).slice(0, 300)} — edit panel: ${panel}`);
} finally {
  await browser.close();
  clearTimeout(killer);
}
finish();
