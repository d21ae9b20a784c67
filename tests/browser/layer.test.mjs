// A layer added with `zoneatlas import --layer ID` (no style, no Chinese
// title) on the map after a restart: in the layer control, the legend and
// the editor's layer list, every feature drawn in its default style.
// Usage: node layer.test.mjs http://127.0.0.1:PORT ID SCREENSHOT.png
import { check, finish, hardStop, launch } from './harness.mjs';

const [base, id, shot] = process.argv.slice(2);
const killer = hardStop('the browser test', 60_000);
const api = async (path) => (await fetch(base + path)).json();
const browser = await launch();
try {
  const page = await browser.newPage({ viewport: { width: 1600, height: 1000 } });
  const errors = [];
  page.on('console', (m) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(base + '/', { waitUntil: 'load' });
  await page.waitForFunction(() => window.zoneatlas && window.zoneatlas.ready, null, { timeout: 30_000 });
  const c = (await api('/api/collections')).collections.find((x) => x.id === id);
  check('the server lists the imported layer with a default style', Boolean(c?.style?.color), JSON.stringify(c?.style));
  const control = await page.locator('.leaflet-control-layers-overlays label').evaluateAll((ls) => ls.map((l) => l.textContent.trim()));
  check('it is in the layer control', control.includes(c.title), control.join(', '));
  check('and in the legend', (await page.locator('#legend-body').innerText()).includes(c.title));
  const options = await page.locator('#new-collection option').evaluateAll((os) => os.map((o) => o.value));
  check('and in the editor\'s layer list', options.includes(id), options.join(','));
  const drawn = await page.locator(`path.za-${id}`).evaluateAll((ps) => ps.map((p) => [p.getAttribute('stroke'), p.getAttribute('fill')]));
  check('every feature is drawn, filled, in the style\'s colour', drawn.length === c.numberOfFeatures && drawn.every(([s, f]) => s === c.style.color && f && f !== 'none'),
    `${drawn.length} of ${c.numberOfFeatures}: ${JSON.stringify(drawn.slice(0, 2))}`);
  await page.screenshot({ path: shot });
  check('no console errors', errors.length === 0, errors.slice(0, 3).join(' | '));
} catch (e) {
  check('the browser test ran to the end', false, String(e).split('\n')[0]);
} finally {
  clearTimeout(killer);
  await browser.close();
}
finish();
