// zoneatlas web map. Plain script, no build step; talks to the server only
// through the public API (/api/...). Leaflet is vendored under vendor/.
'use strict';

(() => {
  const I18N = {
    zh: {
      scenario: '情景', current: '现状', planned: '规划建成后', draw: '绘制地块', finish: '完成',
      coverage: '覆盖查询', hint: '点击地图查询该点的覆盖情况；或绘制地块（单击加点，双击或回车完成，Esc 取消）。',
      gaps: '覆盖缺口', stats: '统计', legend: '图例', service: '服务', covered: '覆盖', distance: '距离',
      nearest: '最近设施', reach: '服务半径', sources: '供给来源', redundant: '双源/多源供给', single: '单一来源',
      none: '无', yes: '是', no: '否', share: '覆盖比例', area: '面积', parcel: '地块', point: '位置',
      water: '给水', gas: '燃气', steam: '工业蒸汽', power: '电力', road: '道路', park: '公园',
      existing: '现状', under_construction: '在建', planned_status: '规划',
      assets_by_status: '设施（按状态）', items: '项', computing: '正在计算全区覆盖，稍后自动刷新…', zone_shares: '全区覆盖比例', sites_lacking: '缺少某项服务的项目',
      all_served: '所有项目均已覆盖', drawing: '单击加点，双击/回车完成，Esc 取消',
      also_here: '此处还有', close_answer: '关闭', loading: '加载中…', error: '出错了',
      filter: '筛选', filter_hint: 'CQL2 表达式（文本或 JSON），筛选地图上的图层', apply: '应用', clear: '清除', examples: '示例', filter_on: '已筛选',
    },
    en: {
      scenario: 'Scenario', current: 'Current', planned: 'Planned built', draw: 'Draw parcel', finish: 'Finish',
      coverage: 'Coverage', hint: 'Click the map to ask about a place, or draw a parcel (click to add points, double-click or Enter to finish, Esc to cancel).',
      gaps: 'Coverage gaps', stats: 'Statistics', legend: 'Legend', service: 'Service', covered: 'Covered', distance: 'Distance',
      nearest: 'Nearest asset', reach: 'Reach', sources: 'Sources', redundant: 'redundant supply', single: 'single source',
      none: 'none', yes: 'yes', no: 'no', share: 'Share', area: 'Area', parcel: 'Parcel', point: 'Location',
      water: 'Water', gas: 'Gas', steam: 'Steam', power: 'Power', road: 'Road', park: 'Park',
      existing: 'existing', under_construction: 'under construction', planned_status: 'planned',
      assets_by_status: 'Assets by status', items: 'items', computing: 'Zone coverage is being computed; this refreshes by itself…', zone_shares: 'Zone coverage', sites_lacking: 'Sites lacking a service',
      all_served: 'Every site is served', drawing: 'Click to add points, double-click or Enter to finish, Esc to cancel',
      also_here: 'Also here', close_answer: 'Close', loading: 'Loading…', error: 'Error',
      filter: 'Filter', filter_hint: 'A CQL2 expression (text or JSON) that filters the layers on the map', apply: 'Apply', clear: 'Clear', examples: 'Examples', filter_on: 'filtered',
    },
  };
  // The services the rules define (the landing page's), with their titles.
  let SERVICES = [];
  const serviceInfo = {};
  // A service's title: the rules' in the page's language, else the page's
  // own word for the common services (water, power, road...), else the
  // rules' English title, else its name.
  const svc = (name) => {
    const s = serviceInfo[name] || {};
    const own = I18N[state.lang][name];
    return (state.lang === 'zh' ? s.title_zh || own || s.title : s.title || own) || name;
  };

  // asof: null for now, else a date (YYYY-MM-DD) the time slider picked;
  // proposal: null for the record, else the id of the proposal open.
  const state = { lang: 'zh', scenario: 'current', layers: null, gaps: new Set(), view: null, asof: null, filter: null, proposal: null };
  const za = (window.zoneatlas = { ready: false, readyMs: null, errors: [], answers: 0 });
  const t = (k) => (I18N[state.lang][k] ?? k);
  const statusText = (s) => t(s === 'planned' ? 'planned_status' : s);
  const esc = (s) => String(s ?? '').replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' }[c]));
  const label = (p) => (state.lang === 'en' ? p.name_en || p.name : p.name || p.name_en) || '';

  // --- datum of the basemap: with a GCJ-02 basemap (Amap and most Chinese
  // web maps) every overlay is drawn shifted into GCJ-02 so roads sit on the
  // basemap's roads, and every position read from the map (a click, a
  // drawn vertex) is shifted back to WGS84 before it reaches the API.
  const datum = { gcj02: false };
  function gcjOffset(lng, lat) {
    const a = 6378245.0, ee = 0.006693421622965943, PI = Math.PI;
    const x = lng - 105.0, y = lat - 35.0;
    const waves = (20 * Math.sin(6 * x * PI) + 20 * Math.sin(2 * x * PI)) * 2 / 3;
    let dLat = -100 + 2 * x + 3 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * Math.sqrt(Math.abs(x)) + waves
      + (20 * Math.sin(y * PI) + 40 * Math.sin(y / 3 * PI)) * 2 / 3 + (160 * Math.sin(y / 12 * PI) + 320 * Math.sin(y * PI / 30)) * 2 / 3;
    let dLng = 300 + x + 2 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * Math.sqrt(Math.abs(x)) + waves
      + (20 * Math.sin(x * PI) + 40 * Math.sin(x / 3 * PI)) * 2 / 3 + (150 * Math.sin(x / 12 * PI) + 300 * Math.sin(x / 30 * PI)) * 2 / 3;
    const rad = lat / 180 * PI, magic = 1 - ee * Math.sin(rad) ** 2, sm = Math.sqrt(magic);
    dLat = dLat * 180 / (a * (1 - ee) / (magic * sm) * PI);
    dLng = dLng * 180 / (a / sm * Math.cos(rad) * PI);
    return [dLng, dLat];
  }
  const inChina = (lng, lat) => lng >= 72.004 && lng <= 137.8347 && lat >= 0.8293 && lat <= 55.8271;
  // WGS84 [lng, lat] to a Leaflet LatLng on the map.
  const toMap = (lng, lat) => {
    if (!datum.gcj02 || !inChina(lng, lat)) return L.latLng(lat, lng);
    const [dx, dy] = gcjOffset(lng, lat);
    return L.latLng(lat + dy, lng + dx);
  };
  // A LatLng on the map back to WGS84 (the forward shift inverted by
  // iteration, to far below a centimetre).
  const fromMap = (ll) => {
    if (!datum.gcj02 || !inChina(ll.lng, ll.lat)) return L.latLng(ll.lat, ll.lng);
    let lng = ll.lng, lat = ll.lat;
    for (let i = 0; i < 10; i++) {
      const f = toMap(lng, lat);
      lng -= f.lng - ll.lng;
      lat -= f.lat - ll.lat;
    }
    return L.latLng(lat, lng);
  };
  const coordsToLatLng = (c) => toMap(c[0], c[1]);

  // --- URL state: #map=z/lat/lon&layers=a,b&scenario=planned&lang=en&gaps=power
  function readHash() {
    const h = new URLSearchParams(location.hash.slice(1));
    if (h.get('lang') === 'en' || h.get('lang') === 'zh') state.lang = h.get('lang');
    if (h.get('scenario') === 'planned') state.scenario = 'planned';
    if (h.has('layers')) state.layers = new Set(h.get('layers').split(',').filter(Boolean));
    // Checked against the services once they are known.
    if (h.get('gaps')) h.get('gaps').split(',').filter(Boolean).forEach((s) => state.gaps.add(s));
    const m = (h.get('map') || '').split('/').map(Number);
    if (m.length === 3 && m.every(Number.isFinite)) state.view = { zoom: m[0], lat: m[1], lon: m[2] };
    if (h.get('filter')) state.filter = h.get('filter');
    // A proposal's link (/?proposal=id, as the API gives it) or the hash.
    const q = new URLSearchParams(location.search);
    state.proposal = h.get('proposal') || q.get('proposal') || null;
  }
  function writeHash() {
    if (!za.map) return;
    const c = za.map.getCenter();
    const on = Object.entries(groups).filter(([, g]) => za.map.hasLayer(g)).map(([k]) => k);
    const h = new URLSearchParams();
    h.set('map', `${za.map.getZoom()}/${c.lat.toFixed(5)}/${c.lng.toFixed(5)}`);
    h.set('layers', on.join(','));
    h.set('scenario', state.scenario);
    h.set('lang', state.lang);
    if (state.gaps.size) h.set('gaps', [...state.gaps].join(','));
    if (state.filter) h.set('filter', state.filter);
    if (state.proposal) h.set('proposal', state.proposal);
    history.replaceState(null, '', '#' + h.toString().replace(/%2C/g, ',').replace(/%2F/g, '/'));
  }

  async function getJSON(url, init) {
    const r = await fetch(url, init);
    const body = await r.json().catch(() => ({}));
    if (!r.ok) {
      const e = new Error(body.description || `${r.status} ${url}`);
      e.status = r.status;
      e.code = body.code;
      throw e;
    }
    return body;
  }
  // The API's error codes as a sentence in Chinese; the server's own words
  // (English) follow as the detail. In English the server's words alone.
  const ERROR_ZH = {
    InvalidParameterValue: '请求参数有误', InvalidFeature: '要素数据有误', UnknownProperty: '没有这个属性',
    NotFound: '未找到', Unauthorized: '需要登录', Forbidden: '没有权限', PayloadTooLarge: '提交的数据过大',
    UnsupportedMediaType: '数据格式不受支持', PreconditionFailed: '该要素已被他人修改', PreconditionRequired: '缺少版本标记（If-Match）',
    Conflict: '与现有数据冲突', ReadOnly: '数据只读', NotReady: '正在计算，请稍候', CoverageUnavailable: '该时间点无法计算覆盖',
    StoreUnavailable: '数据库暂不可用', ServiceUnavailable: '服务暂不可用', TooManyRequests: '请求过于频繁', TooManyStreams: '连接过多',
    RequestTimeout: '请求超时', MethodNotAllowed: '不支持该操作', NotImplemented: '尚未支持', URITooLong: '请求地址过长', ServerError: '服务器出错',
  };
  // `e`: an Error from getJSON, or an API error body ({code, description}).
  function errorText(e) {
    const detail = e?.message ?? e?.description ?? String(e);
    if (state.lang !== 'zh') return detail;
    const zh = ERROR_ZH[e?.code] || t('error');
    return `${zh}（${detail}）`;
  }
  // Every feature of a collection, following the next links. The sample and
  // zone-sized data take one page; a layer too big to draw whole stops at
  // MAX_PAGES with a visible notice rather than silently.
  const MAX_PAGES = 100;
  // `&asof=…` when the time slider looks at the past, `&proposal=…` while
  // a proposal is open: every read answers from that view.
  const viewParam = () => (state.asof ? `&asof=${encodeURIComponent(state.asof)}` : '')
    + (state.proposal ? `&proposal=${encodeURIComponent(state.proposal)}` : '');
  // `&filter=…` while the filter box holds an applied CQL2 expression.
  const filterParam = () => (state.filter
    ? `&filter=${encodeURIComponent(state.filter)}&filter-lang=${state.filter.trim().startsWith('{') ? 'cql2-json' : 'cql2-text'}`
    : '');
  async function fetchAll(id) {
    let url = `/api/collections/${encodeURIComponent(id)}/items?limit=10000${viewParam()}${filterParam()}`;
    const out = [];
    let matched = 0;
    for (let i = 0; url; i++) {
      if (i === MAX_PAGES) {
        za.truncated[id] = { drawn: out.length, matched };
        console.warn(`zoneatlas: ${id}: drew the first ${out.length} of ${matched} features`);
        break;
      }
      const r = await fetch(url);
      const page = await r.json().catch(() => ({}));
      // A filter naming a property this collection lacks: none of its
      // features match, so it draws empty.
      if (r.status === 400 && page.code === 'UnknownProperty' && state.filter) return [];
      if (!r.ok) throw new Error(page.description || `${r.status} ${url}`);
      out.push(...page.features);
      matched = page.numberMatched ?? out.length;
      const next = (page.links || []).find((l) => l.rel === 'next');
      url = next ? new URL(next.href).pathname + new URL(next.href).search : null;
    }
    return out;
  }

  // --- styles: from each collection's `style` (its description on the
  // server: layers.toml, the OSM profile, or a default by geometry kind),
  // faded when the scenario leaves a feature out.
  // Which statuses each scenario counts (the landing page's `scenarios`,
  // from the coverage rules); without rules, `status` = existing is current.
  const scenarios = { status_property: 'status', current: ['existing'], planned: null };
  const statusOf = (p) => p[scenarios.status_property];
  const inScenario = (p) => {
    const st = statusOf(p);
    if (st == null || st === '') return true;
    const list = state.scenario === 'planned' ? scenarios.planned : scenarios.current;
    return !list || list.includes(String(st));
  };
  // Statuses the current scenario leaves out are dashed, the nearer one
  // (first in the planned list) long, the others dotted.
  function dashFor(status) {
    if (status == null || scenarios.current.includes(String(status))) return null;
    const later = (scenarios.planned || ['under_construction', 'planned']).filter((x) => !scenarios.current.includes(x));
    return later.indexOf(String(status)) === 0 ? '10 6' : '2 6';
  }
  const styleOf = {}; // collection id -> its style
  const kindOf = {}; // collection id -> Point | LineString | Polygon
  const valueKey = (v) => (v == null ? '' : String(v));
  function styleFor(collection, p) {
    const st = styleOf[collection] || { color: '#555555', width: 2, fill_opacity: 0.3, dash_by_status: true, by: [] };
    let { color, width, fill, fill_opacity: fillOpacity, dash } = st;
    for (const by of st.by || []) {
      const v = by.values.find((x) => x.value === valueKey(p[by.property]));
      if (!v) continue;
      color = v.color ?? color;
      width = v.width ?? width;
      fill = v.fill ?? fill;
      fillOpacity = v.fill_opacity ?? fillOpacity;
      dash = v.dash ?? dash;
    }
    if (st.dash_by_status) dash = dashFor(statusOf(p)) ?? dash;
    const s = kindOf[collection] === 'Point'
      ? { radius: width, color, weight: 2, fillColor: fill || color, fillOpacity, dashArray: dash || null }
      : { color, weight: width, dashArray: dash || null, fill: kindOf[collection] === 'Polygon' && !!fill, fillColor: fill, fillOpacity: fill ? fillOpacity : 0 };
    if (!inScenario(p)) {
      s.opacity = 0.35;
      s.fillOpacity = (s.fillOpacity ?? 0.2) * 0.35;
    } else {
      s.opacity = 1;
    }
    return s;
  }
  // A value's legend title in the page's language, when the style names it.
  function valueTitle(collection, property, value) {
    for (const by of styleOf[collection]?.by || []) {
      if (by.property !== property) continue;
      const v = by.values.find((x) => x.value === valueKey(value));
      if (v) return state.lang === 'zh' && v.title_zh ? v.title_zh : v.title;
    }
    return null;
  }
  const titleOf = (c) => (state.lang === 'zh' && c.title_zh ? c.title_zh : c.title);
  // A feature's label (the style's `label` property; for `name`, the
  // page's language: name_en in English).
  function labelOf(collection, p) {
    const prop = styleOf[collection]?.label;
    if (!prop) return '';
    if (prop === 'name') return label(p);
    return String((state.lang === 'en' ? p[`${prop}_en`] ?? p[prop] : p[prop] ?? p[`${prop}_en`]) ?? '');
  }

  // Overlay groups: one per collection, or one per value of the property
  // its style splits it by (`pipelines:water`), each shown alone.
  const groups = {};
  const splitOf = (collection) => (styleOf[collection]?.by || []).find((b) => b.split);
  function groupOf(collection, p) {
    const split = splitOf(collection);
    return split ? `${collection}:${valueKey(p[split.property])}` : collection;
  }
  // A group key as a CSS class name.
  const classOf = (key) => key.replace(/:/g, '--').replace(/[^A-Za-z0-9_-]/g, '_');
  const UNITS = [[/_m2$/, 'm²'], [/_mm$/, 'mm'], [/_kv$/, 'kV'], [/_mva$/, 'MVA'], [/_km$/, 'km'], [/_m$/, 'm'], [/_mu$/, 'mu'], [/_cny(_per_year)?$/, 'CNY'], [/_ha$/, 'ha']];
  // What the data calls a property (the manifest's `[properties]`, the
  // landing page's), in the page's language; else its name, tidied.
  const propInfo = {};
  const propTitle = (k) => {
    const i = propInfo[k];
    if (i) return (state.lang === 'zh' && i.title_zh) || i.title;
    return k.replace(/_(m2|mm|kv|mva|km|m|mu|cny_per_year|cny|ha)$/, '').replace(/_/g, ' ');
  };
  const unitOf = (k) => propInfo[k]?.unit ?? (UNITS.find(([re]) => re.test(k)) || [null, ''])[1];
  function popupHtml(collection, f) {
    const p = f.properties;
    const rows = [];
    // The name in the page's language first, the other under it.
    const other = state.lang === 'en' ? p.name : p.name_en;
    if (p.name || p.name_en) rows.push(`<tr><td>${esc(propTitle('name'))}</td><td><b>${esc(label(p))}</b>${other && other !== label(p) ? `<br>${esc(other)}` : ''}</td></tr>`);
    for (const [k, v] of Object.entries(p)) {
      if (k === 'name' || k === 'name_en' || v === null || v === '') continue;
      let shown = v;
      if (k === 'status') shown = statusText(v);
      else if (valueTitle(collection, k, v)) shown = valueTitle(collection, k, v);
      else if (typeof v === 'number') shown = `${v.toLocaleString(state.lang === 'en' ? 'en' : 'zh-CN')} ${unitOf(k)}`.trim();
      else if (typeof v === 'object') shown = JSON.stringify(v);
      rows.push(`<tr><td>${esc(propTitle(k))}</td><td>${esc(shown)}</td></tr>`);
    }
    const extra = za.popupExtras ? za.popupExtras(collection, f) : '';
    const c = collections.find((x) => x.id === collection);
    return `<div class="popup"><div><small>${esc(c ? titleOf(c) : collection)} · ${esc(f.id)}</small></div><table>${rows.join('')}</table>${extra}</div>`;
  }

  let collections = [];
  // Collections with more features than this are drawn from vector tiles
  // by viewport; smaller ones load whole (the sample's all do).
  const TILE_OVER = 5000;
  const tiled = (c) => (c.numberOfFeatures ?? 0) > TILE_OVER;
  // What the styles read from a tile (the status and every property a
  // style looks at; names come with the popup, by id). Set from the
  // collections once they are known.
  let tileProps = 'status';
  const features = {}; // collection -> id -> feature
  // One Leaflet layer per group (a collection; pipelines by utility), not
  // one per feature: styles come from `styleFor` through the layer's style
  // function, so a scenario switch is one resetStyle per group.
  const layerOf = {}; // collection -> id -> its Leaflet layer
  // One request per tile for every tiled collection (the dataset tile
  // endpoint), shared by their layers.
  const tileSource = window.zoneatlasTiles.source((z, y, x) => {
    const ids = collections.filter(tiled).map((c) => c.id).join(',');
    return `/api/tiles/WebMercatorQuad/${z}/${y}/${x}?collections=${ids}&properties=${tileProps}${viewParam()}${filterParam()}`;
  });
  // A collection drawn from vector tiles: one group, styled as the rest.
  function drawTiled(c) {
    features[c.id] = {};
    layerOf[c.id] = {};
    za.featureCounts[c.id] = c.numberOfFeatures;
    const shift = datum.gcj02 ? (coords) => {
      // The tile moves by the datum offset at its centre (smooth: well
      // under a pixel across a tile).
      const z = coords.z, n = 2 ** z;
      const lng = ((coords.x + 0.5) / n) * 360 - 180;
      const lat = (Math.atan(Math.sinh(Math.PI * (1 - (2 * (coords.y + 0.5)) / n))) * 180) / Math.PI;
      const a = za.map.project([lat, lng], z), b = za.map.project(toMap(lng, lat), z);
      return [b.x - a.x, b.y - a.y];
    } : null;
    groups[c.id] = new window.zoneatlasTiles.TileLayer({
      collection: c.id,
      pane: 'za-tiles',
      className: `za-${c.id} za-tiled`,
      style: (p) => styleFor(c.id, p),
      shift,
      source: tileSource,
      // No requests beyond the collection's extent.
      bounds: c.extent?.spatial?.bbox?.[0] ? L.latLngBounds(toMap(c.extent.spatial.bbox[0][0], c.extent.spatial.bbox[0][1]), toMap(c.extent.spatial.bbox[0][2], c.extent.spatial.bbox[0][3])) : undefined,
      onError: (e) => { if (!/UnknownProperty/.test(String(e))) za.errors.push(`${c.id}: ${e.message}`); },
    });
    groups[c.id].zaTiled = true;
    // When every tiled layer has its visible tiles drawn: the view is
    // complete (what the browser test times).
    groups[c.id].on('load', () => {
      if (tiledGroups().every((g) => !za.map.hasLayer(g) || !g.isLoading())) {
        za.viewDrawn = (za.viewDrawn || 0) + 1;
        za.viewDrawnMs = performance.now();
        (za.viewWaiters || []).splice(0).forEach((f) => f());
      }
    });
  }
  const SITE_LABELS_MAX = 300;
  const tiledGroups = () => Object.values(groups).filter((g) => g.zaTiled);
  function drawCollection(c, list) {
    if (tiled(c)) return drawTiled(c);
    features[c.id] = Object.fromEntries(list.map((f) => [String(f.id), f]));
    layerOf[c.id] = {};
    za.featureCounts[c.id] = list.length;
    const byGroup = {};
    for (const f of list) (byGroup[groupOf(c.id, f.properties)] ||= []).push(f);
    for (const [key, members] of Object.entries(byGroup)) {
      const styled = (f) => ({ ...styleFor(c.id, f.properties), className: `za-${c.id} za-${classOf(key)}` });
      groups[key] = L.geoJSON({ type: 'FeatureCollection', features: members }, {
        coordsToLatLng,
        style: styled,
        pointToLayer: (f, ll) => L.circleMarker(ll, styled(f)),
        onEachFeature: (f, l) => {
          l.zaCollection = c.id;
          layerOf[c.id][String(f.id)] = l;
          // A click on a feature is a click on the map (which picks the
          // nearest feature, not the topmost), once: stopped here, or the
          // map's own listener would take it again. Where the pointer was,
          // not `e.latlng` (for a small circle, Leaflet gives its centre).
          l.on('click', (e) => {
            L.DomEvent.stop(e);
            onClick(za.map.mouseEventToLatLng(e.originalEvent));
          });
          // Labels on the map (the style's `label`), for features that have
          // one; with many (a city), on hover only: hundreds of permanent
          // labels cost seconds of layout per move.
          if (labelOf(c.id, f.properties)) l.bindTooltip(() => esc(labelOf(c.id, f.properties)), { permanent: list.length <= SITE_LABELS_MAX, direction: 'center', className: 'site-label' });
        },
      });
    }
  }
  // Labels never overlap: after each view or language change, in priority
  // order (points, then lines, then areas, as drawn from the top; within a
  // layer the larger feature first), a label that would overlap one already
  // shown is hidden until there is room for it.
  function declutter() {
    const m = za.map;
    const labels = [];
    for (const key of ordered(Object.keys(groups)).reverse()) {
      const g = groups[key];
      if (g.zaTiled || !m.hasLayer(g)) continue;
      const mine = [];
      g.eachLayer((l) => {
        const tip = l.getTooltip && l.getTooltip();
        const el = tip && tip.options.permanent && tip.getElement && tip.getElement();
        if (!el) return;
        const size = l.getBounds ? (() => { const b = l.getBounds(); return Math.abs((b.getEast() - b.getWest()) * (b.getNorth() - b.getSouth())); })() : 0;
        mine.push([size, el]);
      });
      labels.push(...mine.sort((a, b) => b[0] - a[0]).map(([, el]) => el));
    }
    const shown = [];
    for (const el of labels) el.style.visibility = '';
    for (const el of labels) {
      const r = el.getBoundingClientRect();
      if (shown.some((p) => r.left < p.right && r.right > p.left && r.top < p.bottom && r.bottom > p.top)) el.style.visibility = 'hidden';
      else shown.push(r);
    }
    za.labelsShown = shown.length;
  }
  function restyle() {
    for (const g of Object.values(groups)) (g.zaTiled ? g.restyle() : g.resetStyle());
  }
  // Draw order: areas under lines under points; within a kind, the
  // collections' order, then the split values' legend order.
  const KIND_RANK = { Polygon: 0, LineString: 1, Point: 2 };
  function rankOf(key) {
    const [id, ...rest] = key.split(':');
    const value = rest.join(':');
    const i = collections.findIndex((c) => c.id === id);
    const v = (splitOf(id)?.values || []).findIndex((x) => x.value === value);
    return [KIND_RANK[kindOf[id]] ?? 3, i < 0 ? 999 : i, v < 0 ? 999 : v, value];
  }
  function ordered(keys) {
    const cmp = (a, b) => {
      const [x, y] = [rankOf(a), rankOf(b)];
      for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1;
      return 0;
    };
    return keys.sort(cmp);
  }
  // Fetch a collection again (an edit, an event, the time slider) and
  // redraw its groups, keeping each group shown or hidden as it was.
  async function reloadCollection(id) {
    const c = collections.find((x) => x.id === id);
    if (!c) return;
    // Tiles are fetched again with the new parameters (asof, filter); an
    // edit changed the revision, so every tile revalidates.
    if (tiled(c)) {
      // Once per batch of reloads (reloadAll): every tiled layer then
      // fetches each tile once, afresh.
      if (!tileSource.clearing) {
        tileSource.clearing = true;
        tileSource.clear();
        queueMicrotask(() => { tileSource.clearing = false; });
      }
      if (groups[id]) groups[id].redraw();
      return;
    }
    const list = await fetchAll(id);
    const mine = Object.keys(groups).filter((k) => k === id || k.startsWith(`${id}:`));
    const hidden = new Set(mine.filter((k) => !za.map.hasLayer(groups[k])));
    for (const k of mine) { groups[k].remove(); delete groups[k]; }
    drawCollection(c, list);
    for (const k of ordered(Object.keys(groups))) {
      if (mine.includes(k) && hidden.has(k)) continue;
      if (!za.map.hasLayer(groups[k])) groups[k].addTo(za.map);
      groups[k].bringToFront();
    }
    buildLayerControl();
    declutter();
  }
  const reloadAll = () => Promise.all(collections.map((c) => reloadCollection(c.id)));

  // --- legend
  function swatch(kind, s) {
    const dash = s.dashArray ? `stroke-dasharray="${s.dashArray}"` : '';
    if (kind === 'line') return `<svg width="34" height="14" aria-hidden="true"><line x1="1" y1="7" x2="33" y2="7" stroke="${s.color}" stroke-width="${s.weight}" ${dash}/></svg>`;
    if (kind === 'point') return `<svg width="34" height="18" aria-hidden="true"><circle cx="17" cy="9" r="${s.radius - 1}" stroke="${s.color}" stroke-width="2" fill="${s.fillColor}" fill-opacity="${s.fillOpacity}" ${dash}/></svg>`;
    return `<svg width="34" height="16" aria-hidden="true"><rect x="2" y="2" width="30" height="12" stroke="${s.color}" stroke-width="${Math.min(s.weight, 2.5)}" fill="${s.fill === false ? 'none' : s.fillColor}" fill-opacity="${s.fillOpacity ?? 0.3}" ${dash}/></svg>`;
  }
  function renderLegend() {
    const row = (kind, s, text) => `<div class="legend-row">${swatch(kind, s)}<span>${esc(text)}</span></div>`;
    const SWATCH = { Point: 'point', LineString: 'line', Polygon: 'area' };
    const rows = [];
    // Every collection in draw order from the top (points first): one row
    // when its style has no values, else its title over a row per value.
    for (const c of ordered(collections.map((x) => x.id)).reverse().map((id) => collections.find((x) => x.id === id))) {
      const kind = SWATCH[kindOf[c.id]] || 'line';
      const by = styleOf[c.id]?.by || [];
      if (!by.length) {
        rows.push(row(kind, styleFor(c.id, {}), titleOf(c)));
        continue;
      }
      rows.push(`<div class="legend-group">${esc(titleOf(c))}</div>`);
      for (const b of by) {
        for (const v of b.values) rows.push(row(kind, styleFor(c.id, { [b.property]: v.value }), state.lang === 'zh' && v.title_zh ? v.title_zh : v.title));
      }
    }
    rows.push(`<div class="legend-group">${esc(t('gaps'))}</div>`);
    for (const s of SERVICES) rows.push(row('area', gapStyle(s), svc(s)));
    // How statuses are drawn: solid when the current scenario counts them,
    // dashed (nearer) or dotted (later) when it leaves them out.
    const statuses = scenarios.planned || ['existing', 'under_construction', 'planned'];
    const mark = (st) => (dashFor(st) == null ? '——' : dashFor(st) === '10 6' ? '– –' : '····');
    rows.push(`<p class="hint">${statuses.map((st) => `${esc(statusText(st))} ${mark(st)}`).join(' · ')}</p>`);
    document.getElementById('legend-body').innerHTML = rows.join('');
  }

  // --- coverage at a point, and for a drawn parcel
  let queryMarker = null;
  let lastQuery = null;
  const nearestName = (ref) => {
    if (!ref) return t('none');
    const f = features[ref.collection]?.[ref.id];
    return f ? label(f.properties) : ref.name || ref.id;
  };
  const sourcesHtml = (s) => {
    if (!('sources' in s)) return '';
    // No source at all is not "a single source": say none, and no more.
    if (!s.sources.length) return `<div class="sources">${esc(t('sources'))}: <span class="no">${esc(t('none'))}</span></div>`;
    const names = s.sources.map(nearestName).join(state.lang === 'zh' ? '、' : ', ');
    return `<div class="sources">${esc(t('sources'))}: ${esc(names)} — <span class="${s.redundant ? 'yes' : 'no'}">${esc(s.redundant ? t('redundant') : t('single'))}</span></div>`;
  };
  // Answers can arrive out of order; only the latest question's is shown.
  let querySeq = 0;
  async function queryPoint(latlng) {
    const seq = ++querySeq;
    lastQuery = { kind: 'point', latlng };
    if (queryMarker) queryMarker.remove();
    queryMarker = L.circleMarker(latlng, { radius: 6, color: '#000', weight: 2, fillColor: '#ffeb3b', fillOpacity: 1, className: 'za-query', interactive: false }).addTo(za.map);
    const body = document.getElementById('coverage-body');
    body.innerHTML = `<p>${esc(t('loading'))}</p>`;
    try {
      const at = fromMap(latlng);
      const v = await getJSON(`/api/coverage?lon=${at.lng.toFixed(7)}&lat=${at.lat.toFixed(7)}&scenario=${state.scenario}${viewParam()}`);
      if (seq !== querySeq) return;
      const rows = v.services.map((s) => `<tr data-service="${s.service}" data-covered="${s.covered}">
        <th scope="row">${esc(svc(s.service))}</th>
        <td class="${s.covered ? 'yes' : 'no'}">${s.covered ? '✓ ' + esc(t('yes')) : '✗ ' + esc(t('no'))}</td>
        <td>${s.distance_m == null ? '—' : Math.round(s.distance_m).toLocaleString() + ' m'}<br><small>${esc(t('reach'))} ${Math.round(s.reach_m)} m</small></td>
        <td>${esc(nearestName(s.nearest))}${sourcesHtml(s)}</td></tr>`);
      body.innerHTML = `<p><b>${esc(t('point'))}</b> ${at.lng.toFixed(5)}, ${at.lat.toFixed(5)} · ${esc(t(state.scenario))}</p>
        <table class="coverage-table" data-kind="point"><thead><tr><th>${esc(t('service'))}</th><th>${esc(t('covered'))}</th><th>${esc(t('distance'))}</th><th>${esc(t('nearest'))}</th></tr></thead><tbody>${rows.join('')}</tbody></table>`;
      showAnswer();
      za.answers += 1;
    } catch (e) {
      if (seq === querySeq) body.innerHTML = `<p class="no">${esc(errorText(e))}</p>`;
    }
  }
  // The answer where the eye is: on a wide screen the side panel scrolls
  // to it; on a narrow one (map above, panels below) it rises as a sheet
  // over the bottom of the screen until closed.
  function showAnswer() {
    const box = document.getElementById('coverage');
    box.classList.add('has-answer');
    if (!window.matchMedia('(max-width: 900px)').matches) box.scrollIntoView({ block: 'nearest' });
  }
  let parcelLayer = null;
  async function queryParcel(latlngs) {
    const seq = ++querySeq;
    lastQuery = { kind: 'parcel', latlngs };
    if (parcelLayer) parcelLayer.remove();
    parcelLayer = L.polygon(latlngs, { color: '#e07b00', weight: 2, fillOpacity: 0.15, className: 'za-parcel' }).addTo(za.map);
    const ring = latlngs.map(fromMap).map((p) => [p.lng, p.lat]);
    ring.push(ring[0]);
    const body = document.getElementById('coverage-body');
    body.innerHTML = `<p>${esc(t('loading'))}</p>`;
    try {
      const v = await getJSON(`/api/coverage?scenario=${state.scenario}${viewParam()}`, {
        method: 'POST', headers: { 'content-type': 'application/geo+json' },
        body: JSON.stringify({ type: 'Polygon', coordinates: [ring] }),
      });
      if (seq !== querySeq) return;
      const rows = v.services.map((s) => `<div class="row" data-service="${s.service}" data-share="${s.share}">
        <span>${esc(svc(s.service))}</span><div class="bar-bg"><div class="bar-fg" style="width:${(s.share * 100).toFixed(1)}%"></div></div>
        <span class="num">${(s.share * 100).toFixed(1)}%</span></div>${sourcesHtml(s)}`);
      body.innerHTML = `<p><b>${esc(t('parcel'))}</b> · ${esc(t('area'))} ${Math.round(v.area_m2).toLocaleString()} m² · ${esc(t(state.scenario))}</p>
        <div class="bars coverage-shares" data-kind="parcel">${rows.join('')}</div>`;
      showAnswer();
      za.answers += 1;
    } catch (e) {
      if (seq === querySeq) body.innerHTML = `<p class="no">${esc(errorText(e))}</p>`;
    }
  }
  const rerunQuery = () => {
    if (lastQuery?.kind === 'point') queryPoint(lastQuery.latlng);
    if (lastQuery?.kind === 'parcel') queryParcel(lastQuery.latlngs);
  };

  // --- drawing a parcel: click to add, double-click / Enter to finish, Esc to cancel
  const draw = { on: false, points: [], line: null, hint: null };
  function setDrawing(on) {
    draw.on = on;
    draw.points = [];
    if (draw.line) draw.line.remove();
    draw.line = null;
    if (draw.hint) draw.hint.remove();
    draw.hint = null;
    const btn = document.getElementById('draw');
    btn.setAttribute('aria-pressed', String(on));
    btn.textContent = on ? t('finish') : t('draw');
    if (on) {
      za.map.doubleClickZoom.disable();
      draw.hint = document.createElement('div');
      draw.hint.className = 'draw-hint';
      draw.hint.textContent = t('drawing');
      document.getElementById('map').appendChild(draw.hint);
    } else {
      za.map.doubleClickZoom.enable();
    }
  }
  // --- picking: what a click means. Every drawn feature within PICK_PX
  // pixels of the pointer (lines and points by their drawn shape, dash
  // gaps included; a filled area when the pointer is inside it), whatever
  // the draw order: the nearest opens, the others are listed under it.
  const PICK_PX = 8;
  const ALSO_MAX = 8;
  // Longest wait for a zoom animation to end (Leaflet's own fallback ends
  // one after 250 ms).
  const STILL_WAIT_MS = 1000;
  // Leaflet drops a view change asked for while a zoom animation runs
  // (setView returns early), and the animation then ends where it was
  // going: a feature brought into view just after one (a list's zoom to
  // its results) would open out of view. Resolves once the map is still.
  function whenStill() {
    if (!za.map?._animatingZoom) return Promise.resolve();
    return new Promise((resolve) => {
      const give = setTimeout(resolve, STILL_WAIT_MS);
      za.map.once('zoomend', () => { clearTimeout(give); resolve(); });
    });
  }
  // The drawn (SVG) features near a map position: [collection, { id, props, px }].
  // From the features' coordinates projected at the current view (not from
  // what the renderer last drew, which lags a view change).
  function drawnHits(latlng) {
    const m = za.map;
    const p = m.latLngToLayerPoint(latlng);
    const near = L.bounds(p.subtract([PICK_PX, PICK_PX]), p.add([PICK_PX, PICK_PX]));
    const hits = [];
    const dist = (rings, closed) => {
      let d = Infinity, inside = false;
      for (const ring of rings) {
        const pts = ring.map((ll) => m.latLngToLayerPoint(ll));
        if (closed) pts.push(pts[0]);
        for (let i = 1; i < pts.length; i++) {
          const [a, b] = [pts[i - 1], pts[i]];
          d = Math.min(d, L.LineUtil.pointToSegmentDistance(p, a, b));
          if (closed && (a.y > p.y) !== (b.y > p.y) && p.x < ((b.x - a.x) * (p.y - a.y)) / (b.y - a.y) + a.x) inside = !inside;
        }
        if (pts.length === 1) d = Math.min(d, p.distanceTo(pts[0]));
      }
      return [d, inside];
    };
    for (const g of Object.values(groups)) {
      if (g.zaTiled || !m.hasLayer(g)) continue;
      g.eachLayer((l) => {
        let d = Infinity;
        if (l instanceof L.CircleMarker) {
          d = Math.max(0, p.distanceTo(m.latLngToLayerPoint(l.getLatLng())) - l.getRadius());
        } else {
          const b = l.getBounds();
          const box = L.bounds(m.latLngToLayerPoint(b.getSouthWest()), m.latLngToLayerPoint(b.getNorthEast()));
          if (!box.intersects(near)) return;
          const closed = l instanceof L.Polygon;
          // Lines and rings, whatever the nesting (multi-part, holes).
          const rings = [];
          const walk = (x) => (x.length && x[0] instanceof L.LatLng ? rings.push(x) : x.forEach(walk));
          walk(l.getLatLngs());
          const [edge, inside] = dist(rings, closed);
          d = edge;
          // Inside a filled area: a hit, behind any line or point as near.
          if (inside && l.options.fill && d > PICK_PX * 0.99) d = PICK_PX * 0.99;
        }
        if (d <= PICK_PX) hits.push([l.zaCollection, { id: String(l.feature.id), props: l.feature.properties, px: d }]);
      });
    }
    return hits;
  }
  // The tiled features near a map position, one per collection.
  function tiledHits(latlng) {
    const hits = [];
    for (const [id, g] of Object.entries(groups)) {
      if (!g.zaTiled || !za.map.hasLayer(g)) continue;
      const hit = g.hit(latlng, PICK_PX);
      if (hit) hits.push([id, hit]);
    }
    return hits;
  }
  // Every feature near a map position, nearest first; at the same distance
  // points before lines before areas, then the collections' order.
  function pick(latlng) {
    const hits = [...drawnHits(latlng), ...tiledHits(latlng)];
    return hits.sort(([a, x], [b, y]) => x.px - y.px || rankOf(b)[0] - rankOf(a)[0] || rankOf(a)[1] - rankOf(b)[1]);
  }
  // A feature as loaded (drawn), or fetched by id (tiled).
  async function featureById(collection, id) {
    const f = features[collection]?.[id];
    if (f) return f;
    return getJSON(`/api/collections/${encodeURIComponent(collection)}/items/${encodeURIComponent(id)}?${viewParam().slice(1)}`);
  }
  // A feature's popup at a position, listing `others` ([collection, id,
  // text]) as buttons that open theirs in its place.
  async function featurePopup(collection, id, latlng, others = []) {
    const f = await featureById(collection, id);
    // The nearest few; a dense view (a whole zone at z13) can put twenty
    // features under a fingertip.
    const also = others.slice(0, ALSO_MAX).map(([c, oid, text]) => `<li><button type="button" class="also-pick" data-collection="${esc(c)}" data-id="${esc(oid)}">${esc(text)}</button></li>`).join('')
      + (others.length > ALSO_MAX ? `<li><small>… +${others.length - ALSO_MAX}</small></li>` : '');
    const extra = also ? `<div class="also"><small>${esc(t('also_here'))}</small><ul>${also}</ul></div>` : '';
    const popup = L.popup({ className: `za-popup za-popup-${collection}`, maxHeight: 360 }).setLatLng(latlng).setContent(popupHtml(collection, f) + extra);
    popup.zaPick = { collection, id, text: `${titleOf(collections.find((x) => x.id === collection))} · ${labelOf(collection, f.properties) || label(f.properties) || id}`, others };
    popup.openOn(za.map);
  }
  // A click's popup: the nearest feature's, naming the others near it.
  async function pickPopup(latlng) {
    const [found, ...rest] = pick(latlng);
    if (!found) return false;
    const others = rest.map(([c, h]) => [c, h.id, `${titleOf(collections.find((x) => x.id === c))} · ${labelOf(c, h.props) || label(h.props) || h.id}`]);
    za.picks = (za.picks || 0) + 1;
    await featurePopup(found[0], found[1].id, latlng, others);
    return true;
  }
  function onClick(latlng) {
    if (za.clickHook && za.clickHook(latlng)) return;
    if (!draw.on) {
      pickPopup(latlng).catch((e) => za.errors.push(String(e)));
      queryPoint(latlng);
      return;
    }
    draw.points.push(latlng);
    if (draw.line) draw.line.setLatLngs(draw.points);
    else draw.line = L.polyline(draw.points, { color: '#e07b00', dashArray: '4 4', className: 'za-drawing', interactive: false }).addTo(za.map);
  }
  function finishDrawing() {
    // The two clicks of the double-click that ends a parcel are one vertex.
    const pts = draw.points.filter((p, i, all) => i === 0 || !p.equals(all[i - 1]));
    setDrawing(false);
    if (pts.length >= 3) queryParcel(pts);
  }

  // --- gaps overlay
  // Each service's gaps in its own colour (several can be shown at once),
  // in a pane under the networks so the lines stay readable over them.
  const GAP_COLOURS = ['#e53935', '#8e24aa', '#fb8c00', '#3949ab', '#00897b', '#6d4c41', '#c0ca33', '#d81b60'];
  const gapStyle = (service) => {
    const c = GAP_COLOURS[Math.max(0, SERVICES.indexOf(service)) % GAP_COLOURS.length];
    return { color: c, weight: 1, fillColor: c, fillOpacity: 0.35, pane: 'za-gaps' };
  };
  const gapLayers = {};
  // Each request for a service's gaps gets a number; only the latest one
  // may draw, so quick toggles or scenario switches leave no orphan layers.
  const gapSeq = {};
  async function showGaps(service) {
    const seq = (gapSeq[service] = (gapSeq[service] || 0) + 1);
    if (gapLayers[service]) gapLayers[service].remove();
    delete gapLayers[service];
    if (!state.gaps.has(service)) return;
    const fc = await getJSON(`/api/coverage/gaps?service=${service}&scenario=${state.scenario}${viewParam()}`);
    if (seq !== gapSeq[service] || !state.gaps.has(service)) return;
    if (gapLayers[service]) gapLayers[service].remove();
    gapLayers[service] = L.geoJSON(fc, { coordsToLatLng, pane: 'za-gaps', style: () => ({ ...gapStyle(service), className: `za-gap za-gap-${service}` }), interactive: false }).addTo(za.map);
  }
  function renderGapToggles() {
    document.getElementById('gaps-body').innerHTML = SERVICES.map((s) =>
      `<label><input type="checkbox" name="gap" value="${esc(s)}" ${state.gaps.has(s) ? 'checked' : ''}> ${esc(svc(s))}</label>`).join('');
  }

  // --- statistics
  function bars(rows, max, fmt) {
    return `<div class="bars">${rows.map(([name, v]) => `<div class="row"><span>${esc(name)}</span>
      <div class="bar-bg"><div class="bar-fg" style="width:${max > 0 ? ((v / max) * 100).toFixed(1) : 0}%"></div></div>
      <span class="num">${esc(fmt(v))}</span></div>`).join('')}</div>`;
  }
  // With tiled layers, the map first: the statistics (seconds of server
  // CPU on a city) wait for the first drawn view, or 5 s.
  const afterFirstView = () => (tiledGroups().length && !za.viewDrawn
    ? new Promise((res) => { const t = setTimeout(res, 5000); (za.viewWaiters ||= []).push(() => { clearTimeout(t); res(); }); })
    : Promise.resolve());
  // The statistics: every service's assets by status (a table: km of
  // line, km² of area, or a count), the zone's shares, the sites lacking a
  // service. While the zone is still being computed (a city after a start
  // or an edit: 503), it says so and asks again every few seconds.
  let statsRetry = null;
  const STATS_RETRY_MS = 3000;
  async function renderStats() {
    clearTimeout(statsRetry);
    const el = document.getElementById('stats-body');
    await afterFirstView();
    try {
      const [st, sites] = await Promise.all([getJSON(`/api/stats?scenario=${state.scenario}${viewParam()}`), getJSON(`/api/coverage/sites?scenario=${state.scenario}${viewParam()}`)]);
      const html = [];
      const listed = SERVICES.filter((s) => st[s]?.by_status);
      const statuses = scenarios.planned || [...new Set(listed.flatMap((s) => Object.keys(st[s].by_status)))];
      const unit = (m) => ({ length_km: 'km', area_m2: 'km²' }[m] || '');
      const cell = (e, m) => {
        if (!e) return '—';
        const n = `<small>(${e.count} ${esc(t('items'))})</small>`;
        if (m === 'length_km') return `${e.length_km.toFixed(2)}<br>${n}`;
        if (m === 'area_m2') return `${(e.area_m2 / 1e6).toFixed(2)}<br>${n}`;
        return `${e.count}`;
      };
      const rows = listed.map((s) => `<tr data-service="${esc(s)}"><th scope="row">${esc(svc(s))}${unit(st[s].measure) ? ` <small>${unit(st[s].measure)}</small>` : ''}</th>${statuses.map((k) => `<td>${cell(st[s].by_status[k], st[s].measure)}</td>`).join('')}</tr>`);
      if (rows.length) html.push(`<h3>${esc(t('assets_by_status'))}</h3><table class="stats-table"><thead><tr><th></th>${statuses.map((k) => `<th scope="col">${esc(statusText(k))}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>`);
      const shares = Object.entries(st.zone.coverage_share).map(([k, v]) => [svc(k), v]);
      html.push(`<h3>${esc(t('zone_shares'))} (${st.zone.area_km2} km²)</h3>${bars(shares, 1, (x) => `${(x * 100).toFixed(1)}%`)}`);
      const lacking = sites.sites.filter((s) => s.lacking.length);
      html.push(`<h3>${esc(t('sites_lacking'))}</h3>`);
      html.push(lacking.length
        ? `<ul class="lacking">${lacking.map((s) => `<li>${esc(nearestName(s.site))}: ${s.lacking.map((x) => esc(svc(x))).join(state.lang === 'zh' ? '、' : ', ')}</li>`).join('')}</ul>`
        : `<p>${esc(t('all_served'))}</p>`);
      el.innerHTML = html.join('');
    } catch (e) {
      if (e.status === 503) {
        // How far the zone's computation got (cells done of all running).
        const h = await fetch('/health').then((r) => r.json()).catch(() => ({}));
        const p = (h.zone_progress || []).reduce((a, z) => [a[0] + z.cells_done, a[1] + z.cells], [0, 0]);
        const pct = p[1] ? ` ${Math.floor((100 * p[0]) / p[1])}%` : '';
        el.innerHTML = `<p class="hint" id="stats-computing">${esc(t('computing'))}${pct}</p>`;
        statsRetry = setTimeout(renderStats, STATS_RETRY_MS);
        return;
      }
      el.innerHTML = `<p class="no">${esc(errorText(e))}</p>`;
    }
  }


  // --- the filter box: a CQL2 expression applied to every drawn layer.
  // The dataset tileset checks it against all collections first, so a
  // mistake is reported (with its position) before anything is redrawn.
  async function applyFilter(text) {
    const el = document.getElementById('filter-error');
    const expr = text.trim() || null;
    if (expr) {
      const lang = expr.startsWith('{') ? 'cql2-json' : 'cql2-text';
      const r = await fetch(`/api/tiles/WebMercatorQuad?filter=${encodeURIComponent(expr)}&filter-lang=${lang}`);
      if (!r.ok) {
        const body = await r.json().catch(() => ({}));
        el.textContent = body.description || `${r.status}`;
        return false;
      }
    }
    el.textContent = '';
    state.filter = expr;
    document.getElementById('filter-h').textContent = expr ? `${t('filter')} (${t('filter_on')})` : t('filter');
    await reloadAll();
    writeHash();
    za.filterApplied = (za.filterApplied || 0) + 1;
    return true;
  }
  function renderFilterExamples() {
    const b = homeBox() || [113.5, 34.6, 113.6, 34.7];
    const cx = ((b[0] + b[2]) / 2).toFixed(4), cy = ((b[1] + b[3]) / 2).toFixed(4);
    const examples = [
      "status = 'planned' AND width_m > 30",
      "utility IN ('gas', 'steam') AND status <> 'existing'",
      'voltage_kv >= 110',
      "CASEI(name_en) LIKE '%road%'",
      `S_DWITHIN(geometry, POINT(${cx} ${cy}), 1000)`,
      `S_INTERSECTS(geometry, BBOX(${b[0].toFixed(4)}, ${b[1].toFixed(4)}, ${cx}, ${cy}))`,
      '{"op":"=","args":[{"property":"status"},"planned"]}',
      '{"op":"s_dwithin","args":[{"property":"geometry"},{"type":"Point","coordinates":[' + cx + ',' + cy + ']},1000]}',
    ];
    document.getElementById('filter-examples').innerHTML = examples.map((x) => `<li tabindex="0">${esc(x)}</li>`).join('');
  }

  // Where the map opens: the zone's layer (the coverage rules'), else
  // every layer's extent.
  let zoneCollection = null;
  function homeBox() {
    const zone = collections.find((c) => c.id === zoneCollection);
    if (zone?.extent?.spatial?.bbox?.[0]) return zone.extent.spatial.bbox[0];
    const boxes = collections.map((c) => c.extent?.spatial?.bbox?.[0]).filter(Boolean);
    if (!boxes.length) return null;
    return [0, 1, 2, 3].map((i) => (i < 2 ? Math.min : Math.max)(...boxes.map((x) => x[i])));
  }

  // --- language
  let layerControl = null;
  let zoneTitle = {};
  function groupTitle(key) {
    const [id, ...rest] = key.split(':');
    const c = collections.find((x) => x.id === id);
    if (!c) return key;
    if (!rest.length) return titleOf(c);
    const value = rest.join(':');
    return valueTitle(id, splitOf(id).property, value) || `${titleOf(c)} · ${value || '—'}`;
  }
  function buildLayerControl() {
    if (layerControl) layerControl.remove();
    const overlays = {};
    for (const key of ordered(Object.keys(groups))) overlays[esc(groupTitle(key))] = groups[key];
    layerControl = L.control.layers(null, overlays, { collapsed: window.innerWidth <= 900 }).addTo(za.map);
  }
  function applyLanguage() {
    document.documentElement.lang = state.lang === 'zh' ? 'zh-CN' : 'en';
    // The data's title in the page's language (English when it has no
    // Chinese one).
    const title = (state.lang === 'zh' && zoneTitle.title_zh) || zoneTitle.title || 'zoneatlas';
    document.getElementById('title').textContent = title;
    document.title = `zoneatlas · ${title}`;
    document.querySelectorAll('[data-i18n]').forEach((el) => { el.textContent = t(el.dataset.i18n); });
    document.querySelectorAll('[data-i18n-label]').forEach((el) => el.setAttribute('aria-label', t(el.dataset.i18nLabel)));
    document.querySelectorAll('[data-i18n-placeholder]').forEach((el) => el.setAttribute('placeholder', t(el.dataset.i18nPlaceholder)));
    document.getElementById('lang').textContent = state.lang === 'zh' ? 'EN' : '中文';
    document.getElementById('draw').textContent = draw.on ? t('finish') : t('draw');
    buildLayerControl();
    for (const g of Object.values(groups)) if (g.eachLayer) g.eachLayer((l) => l.getTooltip && l.getTooltip() && l.setTooltipContent(esc(labelOf(l.zaCollection, l.feature.properties))));
    renderLegend();
    declutter();
    renderGapToggles();
    renderStats();
    rerunQuery();
    if (za.onLanguage) za.onLanguage();
  }

  async function main() {
    const started = performance.now();
    readHash();
    const map = L.map('map', { zoomControl: true, keyboard: true, preferCanvas: false });
    za.map = map;
    za.featureCounts = {};
    za.truncated = {};
    const [landing, cols] = await Promise.all([getJSON('/api'), getJSON('/api/collections')]);
    collections = cols.collections;
    for (const c of collections) {
      styleOf[c.id] = c.style;
      kindOf[c.id] = c.geometryType;
    }
    if (landing.scenarios) Object.assign(scenarios, landing.scenarios);
    for (const s of landing.services || []) serviceInfo[s.name] = s;
    Object.assign(propInfo, landing.properties || {});
    SERVICES = (landing.services || []).map((s) => s.name);
    state.gaps = new Set([...state.gaps].filter((s) => SERVICES.includes(s)));
    tileProps = [...new Set([scenarios.status_property, ...collections.flatMap((c) => (c.style?.by || []).map((b) => b.property))])].join(',');
    zoneTitle = landing;
    if (landing.basemap?.url) {
      datum.gcj02 = landing.basemap.datum === 'gcj02';
      L.tileLayer(landing.basemap.url, { attribution: landing.basemap.attribution || '', subdomains: landing.basemap.subdomains || 'abc', maxZoom: 19 }).addTo(map);
    }
    zoneCollection = landing.zone?.collection;
    const b = homeBox();
    if (state.view) map.setView([state.view.lat, state.view.lon], state.view.zoom);
    else if (b) map.fitBounds([toMap(b[0], b[1]), toMap(b[2], b[3])], { padding: [10, 10] });
    else map.setView([34.69, 113.53], 13);
    // Tiled collections start loading at once, in their own pane under the
    // other overlays; the small ones are fetched whole meanwhile.
    map.createPane('za-tiles').style.zIndex = 390;
    map.createPane('za-gaps').style.zIndex = 380;
    for (const c of collections.filter(tiled)) {
      drawCollection(c, []);
      if (!state.layers || state.layers.has(c.id)) groups[c.id].addTo(map);
    }
    const lists = await Promise.all(collections.map((c) => (tiled(c) ? [] : fetchAll(c.id))));
    collections.forEach((c, i) => { if (!tiled(c)) drawCollection(c, lists[i]); });
    for (const k of ordered(Object.keys(groups))) if ((!state.layers || state.layers.has(k)) && !map.hasLayer(groups[k])) groups[k].addTo(map);
    // Each layer's credit, once.
    for (const a of new Set(collections.map((c) => c.attribution).filter(Boolean))) map.attributionControl.addAttribution(esc(a));
    L.control.scale({ imperial: false }).addTo(map);
    document.querySelector(`input[name=scenario][value=${state.scenario}]`).checked = true;
    applyLanguage();
    for (const s of state.gaps) showGaps(s);

    map.on('click', (e) => onClick(e.latlng));
    document.getElementById('coverage-close').addEventListener('click', () => document.getElementById('coverage').classList.remove('has-answer'));
    // "Also here" in a popup: that feature's popup in its place, the
    // list kept.
    map.on('popupopen', (e) => {
      const at = e.popup.getLatLng();
      const pickd = e.popup.zaPick;
      if (!pickd) return;
      e.popup.getElement().querySelectorAll('button.also-pick').forEach((b, i) => {
        b.addEventListener('click', () => {
          const others = [[pickd.collection, pickd.id, pickd.text], ...pickd.others.filter((_, j) => j !== i)];
          featurePopup(b.dataset.collection, b.dataset.id, at, others).catch((err) => za.errors.push(String(err)));
        });
      });
    });
    map.on('dblclick', () => { if (draw.on) finishDrawing(); });
    map.on('moveend overlayadd overlayremove', writeHash);
    map.on('zoomend moveend overlayadd overlayremove', declutter);
    document.getElementById('map').addEventListener('keydown', (e) => {
      if (draw.on && e.key === 'Enter') { e.preventDefault(); finishDrawing(); } else if (draw.on && e.key === 'Escape') setDrawing(false);
      else if (!draw.on && e.key === 'Enter') queryPoint(map.getCenter());
    });
    document.addEventListener('keydown', (e) => { if (draw.on && e.key === 'Escape') setDrawing(false); });
    document.getElementById('draw').addEventListener('click', () => (draw.on ? finishDrawing() : setDrawing(true)));
    document.getElementById('lang').addEventListener('click', () => { state.lang = state.lang === 'zh' ? 'en' : 'zh'; applyLanguage(); writeHash(); });
    document.querySelectorAll('input[name=scenario]').forEach((el) => el.addEventListener('change', () => {
      state.scenario = el.value;
      restyle();
      renderStats();
      rerunQuery();
      for (const s of state.gaps) showGaps(s);
      writeHash();
    }));
    document.getElementById('gaps-body').addEventListener('change', (e) => {
      if (e.target.name !== 'gap') return;
      if (e.target.checked) state.gaps.add(e.target.value); else state.gaps.delete(e.target.value);
      showGaps(e.target.value);
      writeHash();
    });
    renderFilterExamples();
    document.getElementById('filter-input').value = state.filter || '';
    if (state.filter) document.getElementById('filter-h').textContent = `${t('filter')} (${t('filter_on')})`;
    document.getElementById('filter-form').addEventListener('submit', (e) => {
      e.preventDefault();
      applyFilter(document.getElementById('filter-input').value).catch((err) => za.errors.push(String(err)));
    });
    document.getElementById('filter-clear').addEventListener('click', () => {
      document.getElementById('filter-input').value = '';
      applyFilter('').catch((err) => za.errors.push(String(err)));
    });
    document.getElementById('filter-examples').addEventListener('click', (e) => {
      if (e.target.tagName === 'LI') document.getElementById('filter-input').value = e.target.textContent;
    });
    writeHash();
    // What web/edit.js builds on (editing, history, time, live updates).
    za.app = {
      I18N, state, t, esc, label, statusText, features, getJSON, reloadCollection, reloadAll, renderStats, rerunQuery, afterFirstView,
      viewParam, writeHash, coordsToLatLng, styleFor,
      collections: () => collections,
      // The landing page (`history`: whether history, asof and events are
      // served) and the statuses each scenario counts.
      landing,
      scenarios,
      zoneCollection: () => zoneCollection,
      svc,
      errorText,
      propTitle,
      unitOf,
      services: () => SERVICES,
      groups,
      toMap,
      fromMap,
      datum,
      // A feature's popup, as a click on it opens it.
      openPopup: (c, id) => {
        const l = layerOf[c]?.[id];
        if (!l && !groups[c]?.zaTiled) return false;
        za.map.closePopup();
        if (!l) {
          Promise.all([getJSON(`/api/collections/${encodeURIComponent(c)}/items/${encodeURIComponent(id)}?${viewParam().slice(1)}`), whenStill()]).then(([f]) => {
            const b = L.geoJSON(f, { coordsToLatLng }).getBounds();
            za.map.fitBounds(b, { animate: false, maxZoom: 16, padding: [40, 40] });
            L.popup().setLatLng(b.getCenter()).setContent(popupHtml(c, f)).openOn(za.map);
          }).catch((e) => za.errors.push(String(e)));
          return true;
        }
        // Bring it into view first, as a user would find it; the popup on
        // the feature (a line's middle, an area's centre, the point).
        whenStill().then(() => {
          const b = l.getBounds ? l.getBounds() : L.latLngBounds([l.getLatLng()]);
          za.map.fitBounds(b, { animate: false, maxZoom: 16, padding: [40, 40] });
          return featurePopup(c, id, l.getLatLng ? l.getLatLng() : l.getCenter());
        }).catch((e) => za.errors.push(String(e)));
        return true;
      },
      whenStill,
      pick,
      refreshGaps: () => { for (const s of state.gaps) showGaps(s); },
    };
    // The page's other scripts (edit.js, plan.js, proposals.js) hook in
    // through za.onReady as they run. The parser runs them in order, but
    // while it still fetches one, the data's answers can arrive and bring
    // us here: wait until every script has run, or the late ones never
    // start (a slow link, a busy server).
    if (document.readyState === 'loading') await new Promise((r) => document.addEventListener('DOMContentLoaded', r, { once: true }));
    if (za.onReady) await za.onReady();
    za.readyMs = performance.now() - started;
    za.ready = true;
    window.dispatchEvent(new Event('zoneatlas-ready'));
  }
  main().catch((e) => {
    za.errors.push(String(e));
    console.error(e);
    document.getElementById('coverage-body').innerHTML = `<p class="no">${esc(e.message)}</p>`;
  });
})();
