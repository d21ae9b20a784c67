// The map on a GCJ-02 basemap (as Amap's): every overlay is drawn shifted
// into GCJ-02, and a click on a drawn feature asks the API about the WGS84
// place under it. Usage: node gcj.test.mjs BASE EXPECTED_JSON, where
// EXPECTED_JSON holds {"id", "wgs84": [lng, lat], "gcj02": [lng, lat]} for
// a substation, from an independent GCJ-02 implementation.
import { check, finish, hardStop, launch } from './harness.mjs';

const base = process.argv[2];
const expected = JSON.parse(process.argv[3]);
const killer = hardStop('the GCJ test', 90_000);
const browser = await launch();
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const errors = [];
  const external = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  page.on('request', (r) => { if (!r.url().startsWith(base)) external.push(r.url()); });
  await page.goto(base + '/', { waitUntil: 'load' });
  await page.waitForFunction(() => window.zoneatlas && window.zoneatlas.ready, null, { timeout: 30_000 });
  check('the page knows the basemap is GCJ-02', await page.evaluate(() => window.zoneatlas.app.datum.gcj02));
  // Where the substation is drawn, in metres from the oracle's GCJ-02 position.
  const drawn = await page.evaluate((id) => {
    let at = null;
    window.zoneatlas.map.eachLayer((l) => { if (l.feature && String(l.feature.id) === id && l.getLatLng) at = l.getLatLng(); });
    return at && [at.lng, at.lat];
  }, expected.id);
  const metres = (a, b) => Math.hypot((a[0] - b[0]) * 111320 * Math.cos(b[1] * Math.PI / 180), (a[1] - b[1]) * 110574);
  check('a substation is drawn at its GCJ-02 position (within 1 cm of the oracle)', drawn && metres(drawn, expected.gcj02) < 0.01, drawn && `${metres(drawn, expected.gcj02)} m`);
  check('which is hundreds of metres from its WGS84 one', drawn && metres(drawn, expected.wgs84) > 300, drawn && `${metres(drawn, expected.wgs84).toFixed(0)} m`);
  // A click where the substation is drawn asks about the substation's own place.
  const p = await page.evaluate((ll) => {
    const m = window.zoneatlas.map;
    m.setView([ll[1], ll[0]], 16, { animate: false });
    const pt = m.latLngToContainerPoint([ll[1], ll[0]]);
    const r = document.getElementById('map').getBoundingClientRect();
    return { x: r.left + pt.x, y: r.top + pt.y };
  }, drawn);
  await page.mouse.click(p.x, p.y);
  await page.waitForSelector('.coverage-table[data-kind=point]', { timeout: 10_000 });
  const where = await page.locator('#coverage-body p').first().innerText();
  const nums = (where.match(/[\d.]+/g) || []).map(Number);
  const asked = [nums[0], nums[1]];
  check('the click asked the API about the WGS84 place under it (within 2 m at 1e-5° display)', metres(asked, expected.wgs84) < 2, `${where} vs ${expected.wgs84}`);
  check('no page errors', errors.length === 0, errors.join(' | '));
  check('no external requests (tiles from this server)', external.length === 0, external.slice(0, 3).join(' '));
} catch (e) {
  check('the test ran to its end', false, String(e).slice(0, 300));
} finally {
  await browser.close();
  clearTimeout(killer);
}
finish();
