// Drives Debian's Chromium against a running zoneatlas (URL in argv[2]) and
// checks the map as a user sees it. Run by tests/tools.rs; prints one line
// per check and a closing "N passed, M failed" line; exits non-zero on failure.
// Usage: node map.test.mjs http://127.0.0.1:PORT SCREENSHOT.png
import { check, finish, hardStop, launch } from './harness.mjs';

const base = process.argv[2];
const shot = process.argv[3] || 'map.png';
const killer = hardStop('the browser test', 150_000);

const api = async (path, init) => (await fetch(base + path, init)).json();

const browser = await launch();
try {
  const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  const consoleErrors = [];
  page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()); });
  page.on('pageerror', (e) => consoleErrors.push(String(e)));
  const external = [];
  page.on('request', (r) => { if (!r.url().startsWith(base)) external.push(r.url()); });

  await page.goto(base + '/', { waitUntil: 'load' });
  await page.waitForFunction(() => window.zoneatlas && window.zoneatlas.ready, null, { timeout: 30_000 });
  const readyMs = await page.evaluate(() => window.zoneatlas.readyMs);
  console.log(`first view ready in ${readyMs.toFixed(0)} ms`);
  check('first view ready in under 1 s', readyMs < 1000, `${readyMs.toFixed(0)} ms`);

  // Every layer is drawn: its features are SVG paths in the DOM.
  const collections = (await api('/api/collections')).collections;
  for (const c of collections) {
    const n = await page.locator(`path.za-${c.id}`).count();
    check(`layer ${c.id} drawn`, n > 0 && n >= c.numberOfFeatures, `${n} paths for ${c.numberOfFeatures} features`);
  }
  // The legend names every layer (Chinese titles by default).
  const legend = await page.locator('#legend-body').innerText();
  for (const c of collections) check(`legend names ${c.id}`, legend.includes(c.title_zh || c.title));
  // Styles come from the data: every value a collection's style names is
  // in the legend, and a layer split by a value draws each value's
  // features in that value's colour (no code names the layers).
  for (const c of collections) {
    for (const by of c.style?.by || []) {
      for (const v of by.values) check(`legend names ${c.id} ${by.property}=${v.value}`, legend.includes(v.title_zh || v.title));
      if (!by.split) continue;
      for (const v of by.values.filter((x) => x.color)) {
        const strokes = await page.locator(`path.za-${c.id}--${v.value}`).evaluateAll((ps) => ps.map((p) => p.getAttribute('stroke')));
        const want = v.color.toLowerCase();
        check(`${c.id} with ${by.property}=${v.value} drawn in ${v.color}`, strokes.length > 0 && strokes.every((x) => x.toLowerCase() === want), `${strokes.length} paths, ${[...new Set(strokes)].join(' ')}`);
      }
    }
  }

  // Labels never overlap: the visible labels' boxes, pairwise, in the first
  // view, in English, and at z15 over the densest part of the sample.
  const labelClashes = () => page.evaluate(() => {
    const rs = [...document.querySelectorAll('.leaflet-tooltip.site-label')].filter((el) => getComputedStyle(el).visibility !== 'hidden').map((el) => el.getBoundingClientRect());
    let clashes = 0;
    for (let i = 0; i < rs.length; i++) for (let j = i + 1; j < rs.length; j++) {
      const [a, b] = [rs[i], rs[j]];
      if (a.left < b.right - 0.5 && a.right > b.left + 0.5 && a.top < b.bottom - 0.5 && a.bottom > b.top + 0.5) clashes++;
    }
    return [rs.length, clashes];
  });
  {
    const start = await page.evaluate(() => [window.zoneatlas.map.getCenter(), window.zoneatlas.map.getZoom()]);
    const views = [];
    views.push(['first view', ...(await labelClashes())]);
    await page.locator('#lang').click();
    views.push(['first view in English', ...(await labelClashes())]);
    await page.evaluate(() => window.zoneatlas.map.setView([34.695, 113.52], 15, { animate: false }));
    views.push(['z15 in English', ...(await labelClashes())]);
    await page.locator('#lang').click();
    views.push(['z15', ...(await labelClashes())]);
    for (const [what, shown, clashes] of views) check(`${what}: no two labels overlap`, shown > 0 && clashes === 0, `${shown} shown, ${clashes} overlapping`);
    await page.evaluate(([c, z]) => window.zoneatlas.map.setView(c, z, { animate: false }), start);
  }

  // Clicks at a lon/lat; `centre` first pans there, so no control covers it.
  const clickAt = async (lon, lat, centre = false) => {
    const p = await page.evaluate(([lo, la, c]) => {
      const m = window.zoneatlas.map;
      if (c) m.setView([la, lo], m.getZoom(), { animate: false });
      const pt = m.latLngToContainerPoint([la, lo]);
      const r = document.getElementById('map').getBoundingClientRect();
      return { x: r.left + pt.x, y: r.top + pt.y };
    }, [lon, lat, centre]);
    await page.mouse.click(p.x, p.y);
  };
  const panelFor = async (service) => page.locator(`.coverage-table tr[data-service=${service}]`).getAttribute('data-covered');
  const waitPanel = () => page.waitForSelector('.coverage-table[data-kind=point]', { timeout: 10_000 });
  const closePopups = () => page.evaluate(() => window.zoneatlas.map.closePopup());

  // A covered point in Mazhai town: the panel agrees with the API, service by service.
  const town = [113.5250, 34.7080];
  await clickAt(...town, true);
  await waitPanel();
  const truth = await api(`/api/coverage?lon=${town[0]}&lat=${town[1]}`);
  let agree = true;
  for (const s of truth.services) {
    const shown = await panelFor(s.service);
    if (shown !== String(s.covered)) agree = false;
  }
  check('coverage panel at a covered point matches the API', agree && truth.services.find((s) => s.service === 'gas').covered);
  const panelText = await page.locator('#coverage-body').innerText();
  check('panel shows the water sources and redundancy', panelText.includes('双源') && panelText.includes('北部水源'), panelText.slice(0, 80));
  await closePopups();

  // A known gap: Fenghu has no power today; the planned scenario brings Jiangang.
  const fenghu = [113.5700, 34.7050];
  const answered = () => page.evaluate(() => window.zoneatlas.answers);
  const waitAnswer = (n) => page.waitForFunction((k) => window.zoneatlas.answers > k, n, { timeout: 10_000 });
  let n = await answered();
  await clickAt(...fenghu, true);
  await waitAnswer(n);
  check('a click in the Fenghu gap shows power uncovered', (await panelFor('power')) === 'false');
  await closePopups();
  n = await answered();
  await page.locator('input[name=scenario][value=planned]').check();
  await waitAnswer(n);
  check('the planned scenario covers Fenghu with power', (await panelFor('power')) === 'true');
  check('the URL keeps the scenario', page.url().includes('scenario=planned'));

  // Popups: a feature's properties in readable form, both names, units.
  await page.evaluate(() => window.zoneatlas.app.openPopup('substations', 'SS-JIANGANG'));
  await page.waitForSelector('.leaflet-popup-content .popup', { timeout: 5_000 });
  const popup = await page.locator('.leaflet-popup-content').innerText();
  check('a popup shows both names, the status and units', popup.includes('尖岗110kV变电站') && popup.includes('Jiangang 110 kV substation') && popup.includes('在建') && popup.includes('110 kV') && popup.includes('MVA'), popup.replace(/\s+/g, ' ').slice(0, 160));
  // Its keys are the data's property titles in Chinese, not raw names.
  {
    const titles = (await api('/api')).properties || {};
    const f = await api('/api/collections/substations/items/SS-JIANGANG');
    const keys = Object.keys(f.properties).filter((k) => k !== 'name_en' && f.properties[k] !== null && f.properties[k] !== '');
    const untitled = keys.filter((k) => !titles[k]?.title_zh || !popup.includes(titles[k].title_zh));
    const raw = keys.filter((k) => k.includes('_') && popup.includes(k));
    check('popup keys are the properties\' Chinese titles', keys.length > 3 && untitled.length === 0 && raw.length === 0, `untitled ${untitled.join(',')}; raw ${raw.join(',')}`);
  }
  await closePopups();

  // Picking: 200 seeded random points on features (from the API's
  // geometries: a point, a place along a line, a place on an area's
  // boundary), at z13 and z16, each centred and clicked: the popup opens
  // that feature, or lists it among those as near. The first twenty are
  // clicked twice, the second time onto the query marker the first left.
  {
    let seed = 20261207;
    const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648);
    const all = [];
    for (const c of collections) {
      const page1 = await api(`/api/collections/${c.id}/items?limit=10000`);
      for (const f of page1.features) all.push([c.id, String(f.id), f.geometry]);
    }
    const along = (ring) => {
      const i = Math.floor(rnd() * (ring.length - 1)), k = rnd();
      return [ring[i][0] + (ring[i + 1][0] - ring[i][0]) * k, ring[i][1] + (ring[i + 1][1] - ring[i][1]) * k];
    };
    const onFeature = (g) => {
      const parts = g.type.startsWith('Multi') ? g.coordinates : [g.coordinates];
      const part = parts[Math.floor(rnd() * parts.length)];
      if (g.type.endsWith('Point')) return part;
      return along(g.type.endsWith('Polygon') ? part[0] : part);
    };
    const targets = Array.from({ length: 200 }, () => {
      const [c, id, g] = all[Math.floor(rnd() * all.length)];
      return [c, id, onFeature(g)];
    });
    const home = await page.evaluate(() => [window.zoneatlas.map.getCenter(), window.zoneatlas.map.getZoom()]);
    for (const z of [13, 16]) {
      const missed = [];
      for (const [i, [c, id, [lon, lat]]] of targets.entries()) {
        for (let again = 0; again < (i < 20 ? 2 : 1); again++) {
          const p = await page.evaluate(async ([lo, la, zz, keep]) => {
            const m = window.zoneatlas.map;
            m.closePopup();
            // A closed popup fades out for 200 ms before it leaves the page
            // (and would take a click there): gone at once, as a user who
            // waits sees it.
            document.querySelectorAll('.leaflet-popup').forEach((el) => el.remove());
            const at = window.zoneatlas.app.toMap(lo, la);
            if (!keep) m.setView(at, zz, { animate: false });
            const pt = m.latLngToContainerPoint(at);
            const r = document.getElementById('map').getBoundingClientRect();
            return { x: r.left + pt.x, y: r.top + pt.y, before: window.zoneatlas.picks || 0 };
          }, [lon, lat, z, again > 0]);
          await page.mouse.click(p.x, p.y);
          // The popup's content once this click's pick has opened it ('' if
          // none within 3 s).
          const html = await page.evaluate((k) => new Promise((done) => {
            const t0 = performance.now();
            const poll = () => {
              const el = document.querySelector('.leaflet-popup-content');
              if ((window.zoneatlas.picks || 0) > k && el) done(el.innerHTML);
              else if (performance.now() - t0 > 3000) done('');
              else setTimeout(poll, 2);
            };
            poll();
          }), p.before);
          const esc = id.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/"/g, '&quot;');
          if (!(html.includes(` · ${esc}</small>`) || html.includes(`data-id="${esc}"`))) missed.push(`${c}/${id}${again ? ' (again)' : ''}`);
        }
      }
      check(`z${z}: 220 clicks on 200 random points of features each open the feature or list it`, missed.length === 0, missed.length ? `missed ${missed.length}: ${missed.slice(0, 6).join(', ')}` : '');
    }
    await closePopups();
    await page.evaluate(([c, z]) => window.zoneatlas.map.setView(c, z, { animate: false }), home);
  }

  // Gaps overlay: power gaps today are drawn in red.
  await page.locator('input[name=scenario][value=current]').check();
  await page.locator('input[name=gap][value=power]').check();
  await page.waitForSelector('path.za-gap-power', { timeout: 10_000 });
  check('power gaps drawn, under the networks (their own pane below the features)', (await page.locator('.leaflet-za-gaps-pane path.za-gap-power').count()) > 0
    && await page.evaluate(() => Number(getComputedStyle(document.querySelector('.leaflet-za-gaps-pane')).zIndex) < Number(getComputedStyle(document.querySelector('.leaflet-overlay-pane')).zIndex)));

  // Quick toggles and scenario switches leave exactly one overlay: as many
  // gap paths as the API returns gap polygons, none orphaned.
  const powerGaps = (await api('/api/coverage/gaps?service=power&scenario=current')).features.length;
  const gapBox = page.locator('input[name=gap][value=power]');
  for (let i = 0; i < 5; i++) { await gapBox.uncheck(); await gapBox.check(); }
  await page.locator('input[name=scenario][value=planned]').check();
  await page.locator('input[name=scenario][value=current]').check();
  await page.waitForTimeout(800);
  const gapPaths = await page.locator('path.za-gap-power').count();
  check('rapid gap toggles leave one overlay, no orphans', gapPaths === powerGaps, `${gapPaths} paths for ${powerGaps} gaps`);

  // Answers that arrive out of order: the first click's answer is held back
  // until after the second's; the panel must show the second point.
  let held = 0;
  await page.route('**/api/coverage?lon=*', async (route) => {
    if (held++ === 0) await new Promise((r) => setTimeout(r, 1500));
    await route.continue();
  });
  await clickAt(fenghu[0], fenghu[1], true);
  await clickAt(town[0], town[1], true);
  await page.waitForTimeout(2500);
  const shown = await page.locator('#coverage-body p').first().innerText();
  const shownLon = Number((shown.match(/(\d+\.\d+),/) || [])[1]);
  check('a late answer to an earlier click does not replace the latest', held >= 2 && Math.abs(shownLon - town[0]) < 0.001, shown);
  await page.unroute('**/api/coverage?lon=*');
  await closePopups();

  // Draw a parcel in the town and read its shares.
  await page.evaluate(([lo, la]) => { window.zoneatlas.map.closePopup(); window.zoneatlas.map.setView([la, lo], window.zoneatlas.map.getZoom(), { animate: false }); }, town);
  await page.locator('#draw').click();
  const d = 0.0012;
  for (const [dx, dy] of [[-d, -d], [d, -d], [d, d]]) await clickAt(town[0] + dx, town[1] + dy);
  await clickAt(town[0] - d, town[1] + d);
  await page.locator('#map').focus();
  await page.keyboard.press('Enter');
  await page.waitForSelector('.coverage-shares[data-kind=parcel] .row[data-service=gas]', { timeout: 10_000 });
  const gasShare = Number(await page.locator('.coverage-shares .row[data-service=gas]').getAttribute('data-share'));
  check('a drawn parcel gets coverage shares', gasShare === 1, `gas share ${gasShare}`);

  // Statistics panel shows the article's road figures.
  const statsOk = await page.waitForFunction(() => document.querySelector('#stats-body tr[data-service=road] td:nth-child(2)')?.innerText.includes('44.00'), null, { timeout: 10_000 }).then(() => true).catch(() => false);
  check('statistics panel shows 44 km of existing roads', statsOk);
  const landingStats = await api('/api');
  const statRows = await page.locator('#stats-body tr[data-service]').evaluateAll((rs) => rs.map((r) => r.dataset.service));
  check('and a row for every service the rules define', JSON.stringify(statRows) === JSON.stringify(landingStats.services.map((x) => x.name)), statRows.join(','));

  // The planning panel: find land, an outage from a popup, N-1, capacity,
  // the site report link; each agrees with the API it calls.
  await closePopups();
  const sc = await page.evaluate(() => window.zoneatlas.app.state.scenario);
  await page.click('#land-form button[type=submit]');
  await page.waitForSelector('#land-body [data-pieces]', { timeout: 20_000 });
  const land = await api(`/api/coverage/suitable?services=water,gas,steam,power,road&min_area_m2=80000&scenario=${sc}`);
  const shownPieces = Number(await page.locator('#land-body [data-pieces]').getAttribute('data-pieces'));
  const landPaths = await page.locator('path.za-land').count();
  check('find land lists and draws the pieces the API returns', land.numberReturned > 0 && shownPieces === land.numberReturned && landPaths === land.numberReturned,
    `${shownPieces} listed, ${landPaths} drawn, API ${land.numberReturned}`);
  // Opened while the map zooms (Leaflet drops a view change asked for
  // during a zoom animation): the popup still opens in view.
  await page.evaluate(() => {
    const m = window.zoneatlas.map;
    m.setView(m.containerPointToLatLng([20, 20]), m.getZoom() + 2);
    window.zoneatlas.app.openPopup('pipelines', 'W-FEED-NORTH');
  });
  await page.waitForSelector('.leaflet-popup .plan-actions button[data-plan=outage]', { timeout: 10_000 });
  // Then the popup's own pan into view ends.
  await page.waitForFunction(() => { const m = window.zoneatlas.map; return !m._animatingZoom && !m._panAnim?._inProgress; }, null, { timeout: 5_000 });
  const inView = await page.evaluate(() => {
    const b = document.querySelector('.leaflet-popup .plan-actions button').getBoundingClientRect();
    const m = document.getElementById('map').getBoundingClientRect();
    return b.top >= m.top && b.bottom <= m.bottom && b.left >= m.left && b.right <= m.right;
  });
  check('a feature opened while the map zooms opens in view', inView);
  await page.locator('.leaflet-popup .plan-actions button[data-plan=outage]').click();
  await page.waitForSelector('.outage-service[data-service=water]', { timeout: 20_000 });
  const out = await api(`/api/network/outage?assets=W-FEED-NORTH&scenario=${sc}`);
  const weak = Number(await page.locator('.outage-service[data-service=water]').getAttribute('data-weak'));
  const outText = await page.locator('#outage-body').innerText();
  check('an outage from a popup lists who loses the dual feed', weak === out.services[0].lose_redundancy.length && weak > 0 && outText.includes('顶益'), `${weak} vs ${out.services[0].lose_redundancy.length}`);
  await closePopups();
  await page.click('#n1 summary');
  await page.click('#n1-buttons button[data-service=water]');
  await page.waitForSelector('#n1-body h3', { timeout: 20_000 });
  const n1 = await api(`/api/network/critical?service=water&scenario=${sc}`);
  const listed = await page.locator('.critical-list li').evaluateAll((ls) => ls.map((l) => l.dataset.id));
  const critPaths = await page.locator('path.za-critical').count();
  check('N-1 lists and highlights the critical water assets', JSON.stringify(listed) === JSON.stringify(n1.assets.map((a) => a.asset.id)) && critPaths === n1.assets.length,
    `${listed.join(',')} / ${critPaths} drawn`);
  // Capacity: the loaded substations, most loaded first; every one on
  // "show all"; overloads flagged; load badges on the map, none crowding
  // another (centres at least 40 px apart).
  const cap = await api(`/api/network/capacity?scenario=${sc}`);
  const byLoad = cap.substations.slice().sort((a, b) => (b.load_ratio ?? -1) - (a.load_ratio ?? -1));
  const loadedIds = byLoad.filter((s) => s.demand_kw > 0).slice(0, 12).map((s) => s.substation.id);
  const capIds = await page.locator('#capacity-body .row').evaluateAll((rs) => rs.map((r) => r.dataset.id));
  check('capacity lists the loaded substations, most loaded first', JSON.stringify(capIds) === JSON.stringify(loadedIds), `${capIds.join(',')} / ${loadedIds.join(',')}`);
  const rings = await page.locator('path.za-load, path.za-overloaded').evaluateAll((ps) => ps.map((p) => { const b = p.getBoundingClientRect(); return [b.x + b.width / 2, b.y + b.height / 2]; }));
  const crowded = rings.some((a, i) => rings.some((b, j) => j > i && Math.hypot(a[0] - b[0], a[1] - b[1]) < 40));
  check('load badges on the map, none crowding another', rings.length > 0 && rings.length <= cap.substations.length && !crowded && (await page.locator('.load-label').count()) === rings.length, `${rings.length} badges`);
  if (await page.locator('#capacity-all').count()) await page.click('#capacity-all');
  await page.waitForFunction((n) => document.querySelectorAll('#capacity-body .row').length === n, cap.substations.length, { timeout: 5_000 }).catch(() => {});
  const capRows = await page.locator('#capacity-body .row').count();
  const overRows = await page.locator('#capacity-body .row[data-overloaded=true]').count();
  check('"show all" lists every substation, overloads flagged', capRows === cap.substations.length
    && overRows === cap.substations.filter((s) => s.overloaded).length, `${capRows} rows`);
  await page.evaluate(() => window.zoneatlas.app.openPopup('sites', 'ST-DINGYI'));
  const href = await page.locator('.leaflet-popup .plan-actions a').first().getAttribute('href');
  const report = await fetch(base + href);
  check('a site popup links its report', report.status === 200 && (await report.text()).includes('郑州顶益食品'), href);
  await closePopups();

  // The API's errors in the page's language: its code translated, the
  // server's words as the detail.
  {
    // (Fetched here, not by the page: a 404 in the page logs a console error.)
    const body = await api('/api/collections/no-such-layer/items');
    const errZh = await page.evaluate((b) => window.zoneatlas.app.errorText(b), body);
    check('an API error reads in Chinese in Chinese', errZh.startsWith('未找到') && errZh.includes('no-such-layer'), errZh);
  }

  // Language toggle; the title is the data's, in the page's language.
  const landing = await api('/api');
  const titleZh = await page.locator('#title').innerText();
  check('the title is the data\'s Chinese title in Chinese', titleZh === (landing.title_zh || landing.title), titleZh);
  await page.locator('#lang').click();
  const titleEn = await page.locator('#title').innerText();
  check('and its English title in English', titleEn === landing.title, titleEn);
  const lang = await page.evaluate(() => document.documentElement.lang);
  const header = await page.locator('#coverage-h').innerText();
  check('language toggle switches to English', lang === 'en' && header === 'Coverage', `${lang} ${header}`);
  check('the URL keeps the language', page.url().includes('lang=en'));
  const legendEn = await page.locator('#legend-body').innerText();
  check('legend in English names the roads layer', legendEn.includes('Roads'));
  // And nothing Chinese left in English: the control, the legend, the
  // panels' headings and the site labels.
  {
    const cjk = /[\u4e00-\u9fff]/;
    // The panels re-render after their answers come back in the new language.
    await page.waitForFunction(() => ![...document.querySelectorAll('#side h2, #side h3')].some((el) => /[\u4e00-\u9fff]/.test(el.textContent)), null, { timeout: 5000 }).catch(() => {});
    const texts = await page.evaluate(() => [
      ...[...document.querySelectorAll('.leaflet-control-layers-overlays label, #side h2, #side h3, .leaflet-tooltip.site-label')].map((el) => el.textContent.trim()),
      document.getElementById('legend-body').innerText,
      document.getElementById('title').textContent,
    ]);
    const zh = texts.filter((x) => cjk.test(x));
    check('in English no Chinese in the control, legend, headings, title or labels', zh.length === 0, zh.slice(0, 4).join(' | '));
  }

  // A link reproduces the view: reload the URL and find the same state.
  const link = page.url();
  const page2 = await browser.newPage({ viewport: { width: 1000, height: 800 } });
  page2.on('pageerror', (e) => consoleErrors.push(String(e)));
  await page2.goto(link, { waitUntil: 'load' });
  await page2.waitForFunction(() => window.zoneatlas && window.zoneatlas.ready, null, { timeout: 30_000 });
  const restored = await page2.evaluate(() => ({ lang: document.documentElement.lang, gap: document.querySelector('input[name=gap][value=power]').checked }));
  check('a copied link restores language and gap overlay', restored.lang === 'en' && restored.gap);
  await page2.close();

  // The answer in view: after a click on a desktop (1600×1000) and a tap on
  // a phone (390×844), the coverage answer lies inside the viewport.
  for (const [what, viewport, mobile] of [['desktop', { width: 1600, height: 1000 }, false], ['phone', { width: 390, height: 844 }, true]]) {
    const p = await browser.newPage({ viewport, hasTouch: mobile, isMobile: mobile });
    p.on('pageerror', (e) => consoleErrors.push(String(e)));
    await p.goto(base + '/', { waitUntil: 'load' });
    await p.waitForFunction(() => window.zoneatlas && window.zoneatlas.ready, null, { timeout: 30_000 });
    const at = await p.evaluate(() => {
      const r = document.getElementById('map').getBoundingClientRect();
      return { x: r.left + r.width / 2, y: r.top + r.height / 2 };
    });
    const n0 = await p.evaluate(() => window.zoneatlas.answers);
    if (mobile) await p.touchscreen.tap(at.x, at.y); else await p.mouse.click(at.x, at.y);
    const answered = await p.waitForFunction((k) => window.zoneatlas.answers > k, n0, { timeout: 10_000 }).then(() => true).catch(() => false);
    const box = await p.evaluate(() => {
      const b = document.querySelector('#coverage-body table').getBoundingClientRect();
      return { top: b.top, bottom: b.bottom, left: b.left, right: b.right, vw: innerWidth, vh: innerHeight };
    });
    check(`${what}: the coverage answer is in view after a click`, answered && box.top >= 0 && box.bottom <= box.vh && box.left >= 0 && box.right <= box.vw + 1, JSON.stringify(box));
    await p.screenshot({ path: shot.replace(/\.png$/, `-${what}-answer.png`) });
    await p.close();
  }

  // A tablet in portrait: the map and the panels both show.
  const tablet = await browser.newPage({ viewport: { width: 820, height: 1180 }, hasTouch: true, isMobile: true });
  tablet.on('pageerror', (e) => consoleErrors.push(String(e)));
  await tablet.goto(base + '/', { waitUntil: 'load' });
  await tablet.waitForFunction(() => window.zoneatlas && window.zoneatlas.ready, null, { timeout: 30_000 });
  const layout = await tablet.evaluate(() => {
    const m = document.getElementById('map').getBoundingClientRect();
    const side = document.getElementById('side').getBoundingClientRect();
    return { mapH: m.height, mapW: m.width, sideTop: side.top, paths: document.querySelectorAll('path.za-roads').length };
  });
  check('tablet layout: map on top, panels below, roads drawn', layout.mapH > 400 && layout.mapW >= 800 && layout.sideTop >= layout.mapH && layout.paths > 0, JSON.stringify(layout));
  await tablet.close();

  // Every control has a label, and Tab reaches them.
  const unlabelled = await page.evaluate(() => [...document.querySelectorAll('button, input')]
    .filter((el) => !(el.closest('label') || (el.id && document.querySelector(`label[for="${el.id}"]`)) || el.getAttribute('aria-label') || el.textContent.trim()))
    .map((el) => el.outerHTML.slice(0, 60)));
  check('every control has a label', unlabelled.length === 0, unlabelled.join(' '));
  const fresh = await browser.newPage({ viewport: { width: 1400, height: 900 } });
  await fresh.goto(base + '/', { waitUntil: 'load' });
  await fresh.waitForFunction(() => window.zoneatlas && window.zoneatlas.ready, null, { timeout: 30_000 });
  const reached = new Set();
  for (let i = 0; i < 12; i++) {
    await fresh.keyboard.press('Tab');
    reached.add(await fresh.evaluate(() => document.activeElement?.id || document.activeElement?.name || document.activeElement?.tagName));
  }
  await fresh.close();
  check('Tab reaches the scenario, draw and language controls', reached.has('scenario') && reached.has('draw') && reached.has('lang'), [...reached].join(','));

  // The screenshot shows the whole zone, with the power gaps and the parcel.
  await page.evaluate(() => {
    const m = window.zoneatlas.map;
    m.closePopup();
    let b = null;
    m.eachLayer((l) => { if (l.feature && l.zaCollection === 'zone') b = b ? b.extend(l.getBounds()) : l.getBounds(); });
    if (b) m.fitBounds(b, { animate: false });
  });
  await page.waitForTimeout(300);
  await page.screenshot({ path: shot });
  console.log(`screenshot: ${shot}`);
  check('no console errors', consoleErrors.length === 0, consoleErrors.join(' | '));
  check('no request left the server (works offline)', external.length === 0, external.slice(0, 3).join(' '));
} catch (e) {
  check('browser test ran to the end', false, String(e));
  try {
    const pages = browser.contexts().flatMap((c) => c.pages());
    if (pages[0]) {
      await pages[0].screenshot({ path: shot.replace(/\.png$/, '-failure.png') });
      console.log('panel at failure:', (await pages[0].locator('#coverage-body').innerText()).slice(0, 300));
    }
  } catch { /* the screenshot is a diagnostic only */ }
} finally {
  await browser.close();
  clearTimeout(killer);
}
finish();
