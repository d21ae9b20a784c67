// zoneatlas planner tools: find land for a new plant, what an outage cuts
// off, single points of failure (N-1), substation capacity, site reports.
// Plain script, loaded after app.js and edit.js; builds on window.zoneatlas.app.
'use strict';

(() => {
  const za = window.zoneatlas;
  const MORE = {
    zh: {
      extra: '可接受的额外接入长度（米）',
      plan: '规划工具', find_land: '找地：新项目可以放在哪里', min_area: '最小面积（公顷）', fit: '须放下的矩形（米，宽×深，可选）',
      find: '查找', pieces: '处', land_none: '没有满足条件的用地', n1: '单点故障（N-1）', n1_hint: '单独停运即会使项目断供的设施',
      n1_none: '无单点故障', show_all: '全部显示', capacity: '变电站容量', demand: '负荷', cap: '容量', overloaded: '超载',
      outage: '停运影响', outage_of: '停运', lose_supply: '断供的项目', lose_redundancy: '失去双源的项目', dead_assets: '失去供给的设施',
      lost_area: '失去覆盖的面积', report: '项目报告', report_pdf: 'PDF', nothing: '无', unserved: '无变电站覆盖',
      serving: '接入设施', close: '关闭',
    },
    en: {
      extra: 'Extra connection accepted beyond reach (m)',
      plan: 'Planning', find_land: 'Find land for a new plant', min_area: 'Minimum area (ha)', fit: 'Rectangle that must fit (m, width×depth, optional)',
      find: 'Find', pieces: 'pieces', land_none: 'No land meets these needs', n1: 'Single points of failure (N-1)', n1_hint: 'Assets whose loss alone cuts a site off',
      n1_none: 'No single point of failure', show_all: 'Show all', capacity: 'Substation capacity', demand: 'Demand', cap: 'Capacity', overloaded: 'overloaded',
      outage: 'What hangs on this?', outage_of: 'Outage of', lose_supply: 'Sites that lose supply', lose_redundancy: 'Sites that lose their second source', dead_assets: 'Assets left without supply',
      lost_area: 'Area that loses coverage', report: 'Site report', report_pdf: 'PDF', nothing: 'none', unserved: 'No substation reaches',
      serving: 'Serving assets', close: 'Close',
    },
  };
  // What the site finder can ask for: every service; by default all but
  // those served by areas (a park is an amenity, not a utility).
  const needs = () => app.services();
  const needDefault = (s) => app.collections().find((c) => c.id === (app.landing.services || []).find((x) => x.name === s)?.collection)?.geometryType !== 'Polygon';
  let app = null;
  const $ = (id) => document.getElementById(id);
  const ll = (c) => app.toMap(c[0], c[1]);
  const overlay = () => (za.planLayer ||= L.layerGroup().addTo(za.map));
  const ha = (m2) => (m2 / 10000).toLocaleString(undefined, { maximumFractionDigits: 2 });
  const name = (r) => (r ? app.esc(r.name || r.id) : '—');
  const scenarioQ = () => `scenario=${app.state.scenario}${app.viewParam()}`;

  // --- find land
  async function findLand() {
    shown.land = true;
    const t = app.t;
    const body = $('land-body');
    const services = [...document.querySelectorAll('#land-services input:checked')].map((i) => i.value);
    const min = Number($('land-min').value || 0) * 10000;
    const fit = $('land-fit').value.trim();
    const extra = Number($('land-extra').value || 0);
    body.innerHTML = `<p>${app.esc(t('loading'))}</p>`;
    try {
      const fc = await app.getJSON(`/api/coverage/suitable?services=${services.join(',')}&min_area_m2=${min}${fit ? `&fit=${encodeURIComponent(fit)}` : ''}${extra > 0 ? `&extra_m=${extra}` : ''}&${scenarioQ()}`);
      overlay().clearLayers();
      const layer = L.geoJSON(fc, {
        coordsToLatLng: ll,
        style: () => ({ color: '#1b7f3a', weight: 2, fillColor: '#2ecc71', fillOpacity: 0.35, className: 'za-land' }),
        onEachFeature: (f, l) => l.bindPopup(() => landPopup(f)),
      }).addTo(overlay());
      body.innerHTML = fc.features.length
        ? `<p data-pieces="${fc.features.length}">${fc.features.length} ${app.esc(t('pieces'))} · ${ha(fc.features.reduce((a, f) => a + f.properties.area_m2, 0))} ha</p>
           <ol class="land-list">${fc.features.map((f) => `<li data-id="${app.esc(f.id)}">${ha(f.properties.area_m2)} ha</li>`).join('')}</ol>`
        : `<p class="no" data-pieces="0">${app.esc(t('land_none'))}</p>`;
      body.querySelectorAll('.land-list li').forEach((li, k) => li.addEventListener('click', () => {
        const l = layer.getLayers()[k];
        app.whenStill().then(() => {
          za.map.fitBounds(l.getBounds(), { maxZoom: 16, padding: [30, 30] });
          l.openPopup();
        });
      }));
      if (fc.features.length) za.map.fitBounds(layer.getBounds(), { maxZoom: 15, padding: [20, 20] });
      za.landShown = fc.features.length;
    } catch (e) {
      body.innerHTML = `<p class="no">${app.esc(app.errorText(e))}</p>`;
    }
  }
  function landPopup(f) {
    const t = app.t;
    const rows = Object.entries(f.properties.serving).map(([s, v]) =>
      `<tr><td>${app.esc(app.svc(s))}</td><td>${name(v.asset)}</td><td>${v.distance_m == null ? '—' : Math.round(v.distance_m) + ' m'}</td></tr>`);
    return `<div class="popup"><b>#${f.properties.rank} · ${ha(f.properties.area_m2)} ha</b><table>${rows.join('')}</table></div>`;
  }

  // --- N-1
  // The last answers shown, asked again in the other language on a switch.
  const shown = { critical: null, outage: null, land: false };
  async function critical(service) {
    shown.critical = service;
    const t = app.t;
    const body = $('n1-body');
    body.innerHTML = `<p>${app.esc(t('loading'))}</p>`;
    try {
      const v = await app.getJSON(`/api/network/critical?service=${service}&${scenarioQ()}`);
      overlay().clearLayers();
      fetched = 0;
      for (const a of v.assets) highlight(a.asset, { color: '#d400d4', weight: 7, opacity: 0.8, className: 'za-critical' });
      body.innerHTML = `<h3>${app.esc(app.svc(service))} · ${app.esc(t(app.state.scenario))}</h3>` + (v.assets.length
        ? `<ul class="critical-list">${v.assets.map((a) => `<li data-id="${app.esc(a.asset.id)}"><b>${name(a.asset)}</b> <small>${app.esc(a.asset.id)}</small> → ${a.sites.map(name).join('、')}</li>`).join('')}</ul>`
        : `<p class="yes">${app.esc(t('n1_none'))}</p>`);
    } catch (e) {
      body.innerHTML = `<p class="no">${app.esc(app.errorText(e))}</p>`;
    }
  }
  // Draw a feature named in an answer: from the features the map holds, or
  // (a collection drawn from tiles holds none) fetched by id, at most
  // MAX_FETCHED per answer.
  const MAX_FETCHED = 100;
  let fetched = 0;
  function highlight(ref, style) {
    const draw = (f) => L.geoJSON(f, { coordsToLatLng: ll, style: () => style, pointToLayer: (_, at) => L.circleMarker(at, { ...style, radius: 10, fill: false }), interactive: false }).addTo(overlay());
    const f = app.features[ref.collection]?.[ref.id];
    if (f) { draw(f); return; }
    if (fetched++ >= MAX_FETCHED) return;
    const layer = overlay();
    app.getJSON(`/api/collections/${encodeURIComponent(ref.collection)}/items/${encodeURIComponent(ref.id)}?${app.viewParam().slice(1)}`)
      .then((g) => { if (za.map.hasLayer(layer)) draw(g); })
      .catch((e) => za.errors.push(String(e)));
  }

  // --- outage
  async function outage(collection, id, again = false) {
    shown.outage = [collection, id];
    const t = app.t;
    const body = $('outage-body');
    if (!again) $('plan').scrollIntoView({ block: 'start' });
    body.innerHTML = `<p>${app.esc(t('loading'))}</p>`;
    try {
      const v = await app.getJSON(`/api/network/outage?assets=${encodeURIComponent(id)}&${scenarioQ()}`);
      overlay().clearLayers();
      fetched = 0;
      const html = [`<h3>${app.esc(t('outage_of'))} ${app.esc(id)} · ${app.esc(t(app.state.scenario))} <button type="button" id="outage-close">${app.esc(t('close'))}</button></h3>`];
      for (const s of v.services) {
        L.geoJSON(s.lost_area, { coordsToLatLng: ll, style: () => ({ color: '#b71c1c', weight: 1, fillColor: '#e53935', fillOpacity: 0.4, className: 'za-lost' }), interactive: false }).addTo(overlay());
        for (const site of s.lose_supply) highlight(site, { color: '#b71c1c', weight: 4, fill: false, className: 'za-cut-site' });
        for (const site of s.lose_redundancy) highlight(site, { color: '#ef6c00', weight: 3, dashArray: '6 4', fill: false, className: 'za-weak-site' });
        for (const a of s.dead_assets) highlight(a, { color: '#b71c1c', weight: 5, dashArray: '4 4', className: 'za-dead' });
        const list = (xs) => (xs.length ? xs.map(name).join('、') : app.esc(t('nothing')));
        html.push(`<div class="outage-service" data-service="${s.service}" data-lose="${s.lose_supply.length}" data-weak="${s.lose_redundancy.length}">
          <b>${app.esc(app.svc(s.service))}</b><br>${app.esc(t('lose_supply'))}: <span class="${s.lose_supply.length ? 'no' : ''}">${list(s.lose_supply)}</span>
          <br>${app.esc(t('lose_redundancy'))}: ${list(s.lose_redundancy)}
          <br>${app.esc(t('dead_assets'))}: ${s.dead_assets.length}
          <br>${app.esc(t('lost_area'))}: ${ha(s.lost_m2)} ha</div>`);
      }
      body.innerHTML = html.join('');
      $('outage-close').addEventListener('click', () => { body.innerHTML = ''; overlay().clearLayers(); });
      za.outageShown = v;
    } catch (e) {
      body.innerHTML = `<p class="no">${app.esc(app.errorText(e))}</p>`;
    }
  }

  // --- capacity: a table, and each substation's load on the map; only
  // where the rules configure capacity. The table lists the most loaded
  // first, the unloaded ones only on "show all"; a load badge is drawn on
  // the map where it fits (not within BADGE_PX of a more loaded one), for
  // the substations in view, laid out again after each move.
  let capacityLayer = null;
  let capacityAll = false;
  const CAPACITY_ROWS = 12;
  const BADGE_PX = 40;
  let lastCapacity = null;
  function drawBadges() {
    if (capacityLayer) capacityLayer.remove();
    capacityLayer = L.layerGroup().addTo(za.map);
    if (!lastCapacity) return;
    const placed = [];
    const view = za.map.getBounds().pad(0.2);
    for (const s of lastCapacity.substations) {
      const f = app.features[s.substation.collection]?.[s.substation.id];
      if (!f || f.geometry.type !== 'Point') continue;
      const at = ll(f.geometry.coordinates);
      if (!view.contains(at)) continue;
      const px = za.map.latLngToContainerPoint(at);
      if (placed.some((q) => q.distanceTo(px) < BADGE_PX)) continue;
      placed.push(px);
      const pct = s.load_ratio == null ? null : Math.round(s.load_ratio * 100);
      const m = L.circleMarker(at, {
        radius: 14, weight: s.overloaded ? 4 : 2, color: s.overloaded ? '#c62828' : '#6a1b9a', fill: false,
        className: s.overloaded ? 'za-overloaded' : 'za-load', interactive: false,
      }).addTo(capacityLayer);
      m.bindTooltip(`${pct ?? '—'}%`, { permanent: true, direction: 'right', className: 'load-label' });
    }
  }
  async function renderCapacity() {
    const t = app.t;
    const body = $('capacity-body');
    $('capacity').hidden = !app.landing.capacity;
    if (!app.landing.capacity) return;
    // On a city, the map's first view before seconds of server CPU.
    await app.afterFirstView();
    try {
      const v = await app.getJSON(`/api/network/capacity?${scenarioQ()}`);
      // The most loaded first (overloads on top), unknown loads last.
      v.substations.sort((a, b) => (b.load_ratio ?? -1) - (a.load_ratio ?? -1));
      lastCapacity = v;
      drawBadges();
      const loaded = v.substations.filter((s) => s.demand_kw > 0);
      const shown = capacityAll ? v.substations : loaded.slice(0, CAPACITY_ROWS);
      const rows = shown.map((s) => {
        const pct = s.load_ratio == null ? null : Math.round(s.load_ratio * 100);
        return `<div class="row" data-id="${app.esc(s.substation.id)}" data-overloaded="${s.overloaded}"><span>${name(s.substation)}</span>
          <div class="bar-bg"><div class="bar-fg${s.overloaded ? ' over' : ''}" style="width:${Math.min(100, pct ?? 0)}%"></div></div>
          <span class="num ${s.overloaded ? 'no' : ''}">${(s.demand_kw / 1000).toFixed(1)}/${s.capacity_kw == null ? '—' : (s.capacity_kw / 1000).toFixed(0)} MW</span></div>`;
      });
      const more = shown.length < v.substations.length
        ? `<button type="button" id="capacity-all">${app.esc(t('show_all'))} (${v.substations.length})</button>` : '';
      const unserved = v.unserved.length ? `<p class="no">${app.esc(t('unserved'))}: ${v.unserved.map((d) => name(d.site)).join('、')}</p>` : '';
      body.innerHTML = `<div class="bars capacity">${rows.join('')}</div>${more}${unserved}<p class="hint">${app.esc(t('demand'))} / ${app.esc(t('cap'))} (pf ${v.power_factor})</p>`;
      $('capacity-all')?.addEventListener('click', () => { capacityAll = true; renderCapacity(); });
    } catch (e) {
      body.innerHTML = `<p class="hint">${app.esc(app.errorText(e))}</p>`;
    }
  }

  function renderPanel() {
    const t = app.t;
    $('land-services').innerHTML = needs().map((s) =>
      `<label><input type="checkbox" value="${app.esc(s)}" ${needDefault(s) ? 'checked' : ''}> ${app.esc(app.svc(s))}</label>`).join('');
    document.querySelectorAll('#plan [data-i18n]').forEach((el) => { el.textContent = t(el.dataset.i18n); });
    // N-1 for the services traced as networks.
    $('n1-buttons').innerHTML = (app.landing.services || []).filter((s) => s.network).map((s) => `<button type="button" data-service="${app.esc(s.name)}">${app.esc(app.svc(s.name))}</button>`).join('');
  }

  const previousExtras = za.popupExtras;
  za.popupExtras = (collection, f) => {
    const before = previousExtras ? previousExtras(collection, f) : '';
    if (!app) return before;
    const id = app.esc(String(f.id));
    const t = app.t;
    // A project site: its report. An asset a service's network runs
    // through: what an outage of it cuts off. Anything else: nothing more.
    if (collection === app.landing.sites?.collection) {
      const href = `/api/reports/site/${encodeURIComponent(f.id)}`;
      return `${before}<div class="plan-actions"><a href="${href}" target="_blank" rel="noopener">${app.esc(t('report'))}</a> · <a href="${href}?f=pdf" target="_blank" rel="noopener">${app.esc(t('report_pdf'))}</a></div>`;
    }
    const assets = (app.landing.services || []).flatMap((s) => [s.collection, s.lines]).filter(Boolean);
    if (!assets.includes(collection)) return before;
    return `${before}<div class="plan-actions" data-collection="${app.esc(collection)}" data-id="${id}"><button type="button" data-plan="outage">${app.esc(t('outage'))}</button></div>`;
  };

  const previousReady = za.onReady;
  za.onReady = async () => {
    if (previousReady) await previousReady();
    app = za.app;
    Object.assign(app.I18N.zh, MORE.zh);
    Object.assign(app.I18N.en, MORE.en);
    const previousLanguage = za.onLanguage;
    za.onLanguage = () => {
      if (previousLanguage) previousLanguage();
      renderPanel();
      renderCapacity();
      if (shown.critical) critical(shown.critical);
      if (shown.outage) outage(...shown.outage, true);
      if (shown.land) findLand();
    };
    renderPanel();
    renderCapacity();
    // Badges that fit change with the scale and the view.
    za.map.on('moveend', drawBadges);
    $('land-form').addEventListener('submit', (e) => { e.preventDefault(); findLand(); });
    $('n1-buttons').addEventListener('click', (e) => { if (e.target.dataset.service) critical(e.target.dataset.service); });
    document.addEventListener('click', (e) => {
      const b = e.target.closest('.plan-actions button[data-plan=outage]');
      if (b) outage(b.parentElement.dataset.collection, b.parentElement.dataset.id);
    });
    document.querySelectorAll('input[name=scenario]').forEach((el) => el.addEventListener('change', renderCapacity));
  };
})();
