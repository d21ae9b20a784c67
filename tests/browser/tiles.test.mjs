// The map at city scale and the filter box, in Debian's Chromium.
// Usage: node tiles.test.mjs CITY_URL SAMPLE_URL [CITY_SCREENSHOT.png [still]]
//   CITY_URL: zoneatlas serving a synthetic city big enough that its line
//   layers are drawn from vector tiles; SAMPLE_URL: the bundled sample, or
//   - to check the city alone; still: no timed pans and zooms (the
//   first view, its contents and a click only).
// Prints one line per check (and the measured figures), then "N passed, M
// failed"; exits non-zero on failure.
import { check, finish, hardStop, launch } from './harness.mjs';

const [city, sample, cityShot, still] = process.argv.slice(2);
const killer = hardStop('the browser test', 150_000);
const browser = await launch();
const api = async (base, path) => (await fetch(base + path)).json();

async function openMap(base) {
  // A fresh context each time: nothing cached from an earlier load.
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(String(e)));
  // Chromium logs every 4xx as a console error; a filter naming a property
  // some collection lacks is one on purpose. Page errors and the page's own
  // error list are what count.
  page.on('console', (m) => { if (m.type() === 'error' && !/Failed to load resource/.test(m.text())) errors.push(m.text()); });
  // Every console error, failed loads included (before any filter).
  const all = [];
  page.on('console', (m) => { if (m.type() === 'error') all.push(m.text()); });
  await page.goto(base + '/', { waitUntil: 'load' });
  await page.waitForFunction(() => window.zoneatlas && window.zoneatlas.ready, null, { timeout: 60_000 });
  return { page, errors, all };
}

try {
  // --- the city: big layers come from tiles, by viewport
  const cols = (await api(city, '/api/collections')).collections;
  const big = cols.filter((c) => c.numberOfFeatures > 5000).map((c) => c.id);
  console.log(`city: ${cols.map((c) => `${c.id} ${c.numberOfFeatures}`).join(', ')}`);
  check('the city has layers big enough to tile', big.length >= 2, big.join(', '));
  // Five cold loads: the figure is their median (one load on a 2-core
  // machine shared with the server and the browser swings, once in a while
  // by seconds).
  const loads = [];
  for (let i = 0; i < 4; i++) {
    const m = await openMap(city);
    await m.page.waitForFunction(() => window.zoneatlas.viewDrawnMs, null, { timeout: 60_000 });
    loads.push(await m.page.evaluate(() => window.zoneatlas.viewDrawnMs));
    await m.page.context().close();
  }
  const { page, errors, all } = await openMap(city);
  await page.waitForFunction(() => window.zoneatlas.viewDrawnMs, null, { timeout: 60_000 });
  loads.push(await page.evaluate(() => window.zoneatlas.viewDrawnMs));
  const median = [...loads].sort((a, b) => a - b)[2];
  const first = await page.evaluate(() => {
    const za = window.zoneatlas;
    const tiled = Object.entries(za.app.groups).filter(([, g]) => g.zaTiled);
    return {
      ms: za.viewDrawnMs,
      zoom: za.map.getZoom(),
      layers: tiled.map(([k]) => k),
      stats: Object.fromEntries(tiled.map(([k, g]) => [k, g.stats])),
      features: tiled.reduce((n, [, g]) => n + [...g.cache.values()].reduce((m, t) => m + (t.layer ? t.layer.features.length : 0), 0), 0),
    };
  });
  console.log(`first view drawn in ${first.ms.toFixed(0)} ms at zoom ${first.zoom}: ${first.features} features from ${JSON.stringify(first.stats)}`);
  check('the big layers are drawn from tiles', big.every((id) => first.layers.includes(id)), first.layers.join(', '));
  console.log(`first view drawn in ${loads.map((x) => x.toFixed(0)).join(', ')} ms (five cold loads)`);
  // The aim is 1.5 s (1.1-1.3 s measured); the guard is 2 s, as other
  // tests share the two cores while this one runs.
  check('the first view is drawn in under 2 s (median of five cold loads)', median < 2000, `${median.toFixed(0)} ms`);
  // In 中文: every layer in the control and the legend, no entry English
  // only; labels never overlap (first view here, z15 below); no console
  // error at all while the first view loads.
  {
    const cjk = /[\u4e00-\u9fff]/;
    const control = await page.locator('.leaflet-control-layers-overlays label').evaluateAll((ls) => ls.map((l) => l.textContent.trim()));
    const legend = await page.locator('#legend-body').innerText();
    const missing = cols.filter((c) => !c.title_zh || !legend.includes(c.title_zh) || !control.some((x) => x.startsWith(c.title_zh))).map((c) => c.id);
    check('city: every layer in the control and the legend by its Chinese title', missing.length === 0, missing.join(', '));
    check('city: no layer-control entry is English only', control.every((x) => cjk.test(x)), control.join(', '));
    check('city: no console error while the first view loads', all.length === 0, all.slice(0, 3).join(' | '));
  }
  const labelClashes = () => page.evaluate(() => {
    const rs = [...document.querySelectorAll('.leaflet-tooltip.site-label')].filter((el) => getComputedStyle(el).visibility !== 'hidden').map((el) => el.getBoundingClientRect());
    let n = 0;
    for (let i = 0; i < rs.length; i++) for (let j = i + 1; j < rs.length; j++) {
      const [a, b] = [rs[i], rs[j]];
      if (a.left < b.right - 0.5 && a.right > b.left + 0.5 && a.top < b.bottom - 0.5 && a.bottom > b.top + 0.5) n++;
    }
    return [rs.length, n];
  });
  const [shown0, clash0] = await labelClashes();
  check('city, first view: no two labels overlap', clash0 === 0, `${shown0} shown, ${clash0} overlapping`);
  // And in English, nothing Chinese in the control, legend or headings.
  {
    await page.click('#lang');
    // The panels re-render after their answers come back in the new language.
    await page.waitForFunction(() => ![...document.querySelectorAll('#side h2, #side h3')].some((el) => /[\u4e00-\u9fff]/.test(el.textContent)), null, { timeout: 5000 }).catch(() => {});
    const texts = await page.evaluate(() => [
      ...[...document.querySelectorAll('.leaflet-control-layers-overlays label, #side h2, #side h3')].map((el) => el.textContent.trim()),
      document.getElementById('legend-body').innerText,
      document.getElementById('title').textContent,
    ]);
    const zh = texts.filter((x) => /[\u4e00-\u9fff]/.test(x));
    check('city: in English no Chinese in the control, legend, headings or title', zh.length === 0, zh.slice(0, 4).join(' | '));
    await page.click('#lang');
  }
  check('the first view shows features', first.features > 1000, `${first.features}`);
  // Canvases really have ink on them.
  const inked = await page.evaluate(() => [...document.querySelectorAll('.za-tiled canvas')].filter((c) => {
    const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
    for (let i = 3; i < d.length; i += 4 * 97) if (d[i]) return true;
    return false;
  }).length);
  check('tile canvases are drawn on', inked > 0, `${inked} canvases with ink`);

  // Pan and zoom: tiles load, the page keeps painting (no frame gap over 0.5 s).
  const move = async (what, fn) => {
    const r = await page.evaluate(async (code) => {
      const za = window.zoneatlas;
      // Every tiled layer draws from one fetch per tile: count the roads'.
      const tiled = [za.app.groups.roads];
      const before = tiled.reduce((n, g) => n + g.stats.requested, 0);
      const drawn = za.viewDrawn;
      let worst = 0, last = performance.now(), on = true;
      const tick = () => { const now = performance.now(); worst = Math.max(worst, now - last); last = now; if (on) requestAnimationFrame(tick); };
      requestAnimationFrame(tick);
      const t0 = performance.now();
      new Function('m', code)(za.map);
      const deadline = t0 + 20000;
      while (za.viewDrawn === drawn && performance.now() < deadline) await new Promise((res) => setTimeout(res, 20));
      on = false;
      return { ms: performance.now() - t0, tiles: tiled.reduce((n, g) => n + g.stats.requested, 0) - before, worstFrame: worst, done: za.viewDrawn !== drawn };
    }, fn);
    console.log(`${what}: ${r.tiles} tiles in ${r.ms.toFixed(0)} ms, longest frame ${r.worstFrame.toFixed(0)} ms`);
    // A pan settles (its tiles drawn) within a second.
    const bound = what.startsWith('pan') ? 1000 : Infinity;
    check(`${what}: tiles load${bound < Infinity ? ' within 1 s' : ''}`, r.done && r.tiles > 0 && r.ms < bound, `${r.tiles} tiles in ${r.ms.toFixed(0)} ms`);
    check(`${what}: no freeze (longest frame under 500 ms)`, r.worstFrame < 500, `${r.worstFrame.toFixed(0)} ms`);
  };
  // At the first zoom the city fits the view, so zoom in before panning.
  if (still !== 'still') {
    await move('zoom in twice', 'm.setZoom(m.getZoom() + 2, { animate: false })');
    await move('pan east', 'm.panBy([500, 0], { animate: false })');
    await move('pan south', 'm.panBy([0, 400], { animate: false })');
    await move('zoom in to the street level', 'm.setZoom(16, { animate: false })');
  }
  await page.evaluate(() => window.zoneatlas.map.setZoom(15, { animate: false }));
  await page.waitForTimeout(300);
  const [shown15, clash15] = await labelClashes();
  check('city, z15: no two labels overlap', clash15 === 0, `${shown15} shown, ${clash15} overlapping`);
  if (cityShot) await page.screenshot({ path: cityShot });
  await page.evaluate(() => window.zoneatlas.map.setZoom(16, { animate: false }));

  // Click a road segment drawn from a tile: its popup, fetched by id; the
  // same click asks about coverage.
  const target = await page.evaluate(() => {
    const za = window.zoneatlas;
    const g = za.app.groups.roads;
    const m = za.map;
    const size = m.getSize();
    for (const t of g.cache.values()) {
      if (!t.layer) continue;
      for (const f of t.layer.features) {
        const p = f.parts[0];
        if (!p || p.length < 2) continue;
        // The midpoint of its first segment, in map pixels.
        const k = 256 / t.layer.extent;
        const px = (t.coords.x * 256 + ((p[0][0] + p[1][0]) / 2) * k), py = (t.coords.y * 256 + ((p[0][1] + p[1][1]) / 2) * k);
        const ll = m.unproject([px, py], t.coords.z);
        const c = m.latLngToContainerPoint(ll);
        if (c.x > 60 && c.y > 60 && c.x < size.x - 60 && c.y < size.y - 60) {
          const r = document.getElementById('map').getBoundingClientRect();
          return { x: r.left + c.x, y: r.top + c.y, id: String(f.props.id) };
        }
      }
    }
    return null;
  });
  check('a road segment is on screen to click', !!target);
  if (target) {
    await page.mouse.click(target.x, target.y);
    await page.waitForSelector('.leaflet-popup-content .popup', { timeout: 10_000 }).catch(() => {});
    const popup = await page.locator('.leaflet-popup-content').innerText().catch(() => '');
    check('clicking a tiled segment shows its popup', popup.includes(target.id) || popup.includes('roads'), popup.slice(0, 80).replace(/\n/g, ' '));
    await page.waitForSelector('.coverage-table[data-kind=point]', { timeout: 10_000 }).catch(() => {});
    check('the same click answers coverage', await page.locator('.coverage-table[data-kind=point]').count() === 1);
  }
  const zaErrors = await page.evaluate(() => window.zoneatlas.errors);
  check('no page errors on the city', errors.length + zaErrors.length === 0, [...errors, ...zaErrors].slice(0, 3).join(' | '));
  await page.close();

  // --- the sample: unchanged (every layer whole, as SVG), and the filter box
  if (sample !== '-') {
    const s = await openMap(sample);
    const sp = s.page;
    const scols = (await api(sample, '/api/collections')).collections;
    const tiledOnSample = await sp.evaluate(() => Object.values(window.zoneatlas.app.groups).filter((g) => g.zaTiled).length);
    check('the sample draws no layer from tiles', tiledOnSample === 0 && scols.every((c) => c.numberOfFeatures <= 5000));
    const roadsAll = await sp.locator('path.za-roads').count();
    const expr = "status = 'planned' AND width_m > 30";
    const want = (await api(sample, `/api/collections/roads/items?limit=1000&filter=${encodeURIComponent(expr)}`)).numberMatched;
    await sp.fill('#filter-input', expr);
    await sp.click('#filter-form button[type=submit]');
    await sp.waitForFunction(() => window.zoneatlas.filterApplied >= 1, null, { timeout: 20_000 });
    const roadsFiltered = await sp.locator('path.za-roads').count();
    const pipes = await sp.locator('path.za-pipelines').count();
    check('the filter box filters the roads as the API does', roadsFiltered === want && want > 0 && want < roadsAll, `${roadsFiltered} drawn, API ${want}, all ${roadsAll}`);
    check('layers without the property draw nothing under that filter', pipes === 0, `${pipes} pipelines`);
    await sp.fill('#filter-input', "status = 'planned' AND widht_m > 30");
    await sp.click('#filter-form button[type=submit]');
    await sp.waitForFunction(() => document.getElementById('filter-error').textContent.length > 0, null, { timeout: 10_000 });
    const err = await sp.locator('#filter-error').innerText();
    check('a mistake is reported with its position', /character 24/.test(err), err);
    check('and the previous filter stays', await sp.locator('path.za-roads').count() === want);
    await sp.click('#filter-clear');
    await sp.waitForFunction(() => window.zoneatlas.filterApplied >= 2, null, { timeout: 20_000 });
    check('clearing the filter draws everything again', await sp.locator('path.za-roads').count() === roadsAll);
    const examples = await sp.locator('#filter-examples li').count();
    check('examples in both languages', examples >= 6 && (await sp.locator('#filter-examples li', { hasText: '{"op"' }).count()) >= 1);
    const sErrors = await sp.evaluate(() => window.zoneatlas.errors);
    check('no page errors on the sample', s.errors.length + sErrors.length === 0, [...s.errors, ...sErrors].slice(0, 3).join(' | '));
  }
} catch (e) {
  check('the browser test ran to the end', false, String(e));
} finally {
  await browser.close();
  clearTimeout(killer);
}
finish();
