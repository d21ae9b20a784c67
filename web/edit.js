// zoneatlas web map: signing in, editing features (forms from each
// collection's schema, If-Match with conflict handling, drawing new ones,
// deleting), a feature's history, the time slider, the progress chart and
// live updates from /api/events. Builds on what app.js exposes as
// window.zoneatlas.app once the map is ready.
'use strict';

(() => {
  const za = window.zoneatlas;
  const MORE = {
    zh: {
      sign_in: '登录', sign_out: '退出', token: '令牌', token_hint: '输入访问令牌（zoneatlas token add）；仅在本浏览器会话中保存。',
      cancel: '取消', bad_token: '令牌无效', edit: '编辑', new_in: '新建要素于', draw_new: '绘制', save: '保存', delete: '删除',
      stale: '{who} 刚刚修改了这个要素（{time}，版本 {rev}）；保存时会显示双方的值。', also_theirs: '对方还修改了（保留）：', keep_mine: '用我的',
      history: '历史', confirm_delete: '确定删除该要素？此操作会记录在历史中。', saved: '已保存（版本 {rev}）', deleted: '已删除（版本 {rev}）',
      conflict: '{who} 在 {time} 保存了该要素的新版本（版本 {rev}）。', theirs: '对方的值', yours: '你的值', field: '属性',
      reapply: '在新版本上重新应用我的修改', discard: '放弃我的修改', id_optional: '编号（可留空）', drawing_point: '在地图上单击放置（或用方向键移动地图、空格放在中心）',
      drawing_line: '单击加点（或方向键移动地图、空格加中心点），双击或回车完成，Esc 取消', time: '时间', time_now: '现在', now: '回到现在', as_of: '截至 {date}',
      progress: '建设进展', read_only_past: '正在查看过去的数据；回到现在才能编辑。', op_create: '新建', op_replace: '替换', op_update: '修改', op_delete: '删除',
      viewer_only: '只读令牌，不能编辑', events: '实时更新', km: '公里',
    },
    en: {
      sign_in: 'Sign in', sign_out: 'Sign out', token: 'Token', token_hint: 'Enter an access token (zoneatlas token add); it is kept for this browser session only.',
      cancel: 'Cancel', bad_token: 'The token is not valid', edit: 'Edit', new_in: 'New feature in', draw_new: 'Draw', save: 'Save', delete: 'Delete',
      stale: '{who} just changed this feature ({time}, revision {rev}); saving will show both versions.', also_theirs: 'They also changed (kept):', keep_mine: 'Use mine',
      history: 'History', confirm_delete: 'Delete this feature? The deletion is kept in its history.', saved: 'Saved (revision {rev})', deleted: 'Deleted (revision {rev})',
      conflict: '{who} saved a newer version of this feature at {time} (revision {rev}).', theirs: 'Theirs', yours: 'Yours', field: 'Property',
      reapply: 'Reapply my changes on the new version', discard: 'Discard my changes', id_optional: 'Id (may stay empty)', drawing_point: 'Click the map to place it (or pan with the arrow keys and press Space for its centre)',
      drawing_line: 'Click to add points (or pan with the arrow keys, Space adds the centre), double-click or Enter to finish, Esc to cancel', time: 'Time', time_now: 'Now', now: 'Back to now', as_of: 'As of {date}',
      progress: 'Progress', read_only_past: 'You are looking at the past; come back to now to edit.', op_create: 'created', op_replace: 'replaced', op_update: 'changed', op_delete: 'deleted',
      viewer_only: 'A viewer token cannot edit', events: 'Live updates', km: 'km',
    },
  };
  // Statuses in the scenarios' order: in service, then nearer, then later.
  const STATUS_COLOURS = ['#4d4d4d', '#e07b00', '#9bb0c9', '#8e24aa', '#00897b'];
  const TOKEN_KEY = 'zoneatlas-token';
  const $ = (id) => document.getElementById(id);

  let app;
  const session = { token: sessionStorage.getItem(TOKEN_KEY), name: null, role: null };
  const canEdit = () => session.role === 'editor' || session.role === 'admin';
  // What proposals.js needs of the signed-in user.
  za.session = { role: () => session.role, name: () => session.name, auth: () => (session.token ? { Authorization: `Bearer ${session.token}` } : {}), send };
  const fill = (s, vars) => s.replace(/\{(\w+)\}/g, (_, k) => vars[k] ?? '');
  const auth = () => ({ Authorization: `Bearer ${session.token}` });
  za.events = 0;

  async function send(method, url, { body, etag, type } = {}) {
    const headers = { ...auth() };
    if (etag) headers['If-Match'] = etag;
    if (body !== undefined) headers['Content-Type'] = type || 'application/geo+json';
    const r = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const json = r.status === 204 ? null : await r.json().catch(() => null);
    return { status: r.status, etag: r.headers.get('etag'), revision: r.headers.get('zoneatlas-revision'), json };
  }
  const itemPath = (c, id) => `/api/collections/${encodeURIComponent(c)}/items/${encodeURIComponent(id)}`;
  // In the open proposal, if any: its feature, its ETag, edits into it.
  const inView = () => (app?.state.proposal ? `?proposal=${encodeURIComponent(app.state.proposal)}` : '');
  const itemUrl = (c, id) => `${itemPath(c, id)}${inView()}`;

  // --- signing in
  async function whoAmI() {
    if (!session.token) return false;
    const r = await fetch('/api/session', { headers: auth() });
    if (!r.ok) return false;
    const v = await r.json();
    session.name = v.name;
    session.role = v.editable ? v.role : 'viewer';
    return true;
  }
  function renderSession() {
    const t = app.t;
    $('who').textContent = session.name ? `${session.name} (${session.role})` : '';
    $('signin').textContent = session.name ? t('sign_out') : t('sign_in');
    $('edit').hidden = !session.name;
    const past = Boolean(app.state.asof);
    $('new-draw').disabled = !canEdit() || past;
    $('new-collection').disabled = !canEdit() || past;
    if (session.name && !canEdit()) $('edit-body').innerHTML = `<p class="hint">${app.esc(t('viewer_only'))}</p>`;
    if (za.onSession) za.onSession();
  }
  function signOut() {
    sessionStorage.removeItem(TOKEN_KEY);
    Object.assign(session, { token: null, name: null, role: null });
    $('edit-body').innerHTML = '';
    renderSession();
  }
  function openSignIn() {
    $('signin-error').textContent = '';
    $('token-input').value = '';
    $('signin-dialog').showModal();
    $('token-input').focus();
  }

  // --- the collections' schemas (forms are built from them)
  const schemas = {};
  // The form open on a feature (its collection, id, ETag), if any.
  let openEdit = null;
  async function schemaOf(c) {
    schemas[c] ||= await app.getJSON(`/api/collections/${encodeURIComponent(c)}/schema`);
    return schemas[c];
  }

  // A line's length and an area's size on the WGS84 ellipsoid, in metres:
  // each segment (or the ring, about its centre) on the local ruler of the
  // meridian and prime-vertical radii at its latitude; within 0.01% of the
  // geodesic for segments of a few km, 0.1% for areas of a few km.
  const WGS84_A = 6378137, WGS84_E2 = (1 / 298.257223563) * (2 - 1 / 298.257223563);
  const RAD = Math.PI / 180;
  const radii = (lat) => {
    const w = 1 - WGS84_E2 * Math.sin(lat * RAD) ** 2;
    return [(WGS84_A * (1 - WGS84_E2)) / w ** 1.5, WGS84_A / Math.sqrt(w)];
  };
  function lengthM(coords) {
    let m = 0;
    for (let i = 1; i < coords.length; i++) {
      const [[x0, y0], [x1, y1]] = [coords[i - 1], coords[i]];
      const [rm, rn] = radii((y0 + y1) / 2);
      m += Math.hypot((x1 - x0) * RAD * rn * Math.cos(((y0 + y1) / 2) * RAD), (y1 - y0) * RAD * rm);
    }
    return m;
  }
  function areaM2(ring) {
    const lat0 = ring.reduce((a, p) => a + p[1], 0) / ring.length, lon0 = ring.reduce((a, p) => a + p[0], 0) / ring.length;
    const [rm, rn] = radii(lat0);
    const xy = ring.map(([x, y]) => [(x - lon0) * RAD * rn * Math.cos(lat0 * RAD), (y - lat0) * RAD * rm]);
    let a = 0;
    for (let i = 1; i < xy.length; i++) a += xy[i - 1][0] * xy[i][1] - xy[i][0] * xy[i - 1][1];
    return Math.abs(a) / 2;
  }
  // Properties that hold the geometry's own measure: computed, not typed.
  function computed(name, geometry) {
    if (!geometry) return undefined;
    if (name === 'length_m' && geometry.type === 'LineString') return Math.round(lengthM(geometry.coordinates) * 10) / 10;
    if (name === 'area_m2' && geometry.type === 'Polygon') return Math.round(areaM2(geometry.coordinates[0]));
    return undefined;
  }

  // A form field per property: a choice for enums (status) and for values
  // the layer's style names (class: trunk, secondary, branch, with their
  // titles), a number input for numbers, a checkbox for booleans, text
  // otherwise (offering values other features hold); a computed measure
  // read-only. Names in both languages are two text fields like any other.
  function fieldHtml(name, prop, value, required, { collection, readonly = false } = {}) {
    const esc = app.esc;
    const id = `f-${name}`;
    const req = required ? 'required' : '';
    const ro = readonly ? 'readonly' : '';
    const styled = app.collections().find((c) => c.id === collection)?.style?.by?.find((b) => b.property === name);
    const known = styled && (prop.examples || []).every((x) => styled.values.some((v) => v.value === String(x)));
    let input;
    if (known && prop.type === 'string') {
      const title = (v) => (app.state.lang === 'zh' && v.title_zh) || v.title;
      const values = styled.values.slice();
      if (value != null && value !== '' && !values.some((v) => v.value === String(value))) values.push({ value: String(value), title: String(value) });
      const opts = (required ? [] : [{ value: '', title: '—' }]).concat(values)
        .map((v) => `<option value="${esc(v.value)}" ${v.value === String(value ?? '') ? 'selected' : ''}>${esc(v.value === '' ? '—' : title(v))}</option>`);
      input = `<select id="${id}" name="${esc(name)}" data-type="string" ${req}>${opts.join('')}</select>`;
    } else if (prop.enum) {
      const opts = (required ? [] : [''])
        .concat(prop.enum)
        .map((v) => `<option value="${esc(v)}" ${String(v) === String(value ?? '') ? 'selected' : ''}>${esc(v === '' ? '—' : name === 'status' ? app.statusText(v) : v)}</option>`);
      input = `<select id="${id}" name="${esc(name)}" data-type="string" ${req}>${opts.join('')}</select>`;
    } else if (prop.type === 'number' || prop.type === 'integer') {
      input = `<input id="${id}" name="${esc(name)}" type="number" step="${prop.type === 'integer' ? 1 : 'any'}" data-type="number" value="${esc(value ?? '')}" ${req} ${ro}>`;
    } else if (prop.type === 'boolean') {
      input = `<input id="${id}" name="${esc(name)}" type="checkbox" data-type="boolean" ${value ? 'checked' : ''}>`;
    } else {
      // Values other features hold, offered but not imposed.
      const list = prop.examples ? `<datalist id="${id}-list">${prop.examples.map((v) => `<option value="${esc(v)}">`).join('')}</datalist>` : '';
      input = `<input id="${id}" name="${esc(name)}" type="text" data-type="string" value="${esc(value ?? '')}" ${list ? `list="${id}-list"` : ''} ${req}>${list}`;
    }
    const unit = app.unitOf(name);
    return `<div class="field"><label for="${id}" class="${required ? 'req' : ''}" title="${esc(name)}">${esc(app.propTitle(name))}${unit ? ` <small>(${esc(unit)})</small>` : ''}</label>${input}</div>`;
  }
  function readForm(form) {
    const out = {};
    for (const el of form.querySelectorAll('[data-type]')) {
      const type = el.dataset.type;
      if (type === 'boolean') out[el.name] = el.checked;
      else if (el.value === '') out[el.name] = null;
      else out[el.name] = type === 'number' ? Number(el.value) : el.value;
    }
    return out;
  }
  // A form for `props`; with `geometry` (a new feature), its computed
  // measures filled in. Computed measures are read-only either way.
  function formHtml(schema, props, { withId = false, collection, geometry = null, kind } = {}) {
    const names = [...new Set([...(schema.required || []), ...Object.keys(schema.properties || {}), ...Object.keys(props)])];
    const measure = (n) => (n === 'length_m' && kind === 'LineString') || (n === 'area_m2' && kind === 'Polygon');
    const fields = names.map((n) => fieldHtml(n, schema.properties?.[n] || {}, computed(n, geometry) ?? props[n], (schema.required || []).includes(n), { collection, readonly: measure(n) }));
    const idField = withId ? `<div class="field"><label for="f-__id">${app.esc(app.t('id_optional'))}</label><input id="f-__id" name="__id" type="text"></div>` : '';
    return `${idField}${fields.join('')}`;
  }
  // The panel may have moved on (a new drawing) by the time a save answers.
  const message = (html, cls = 'hint') => {
    const el = $('edit-msg');
    if (!el) return;
    el.className = cls;
    el.innerHTML = html;
  };

  async function afterWrite(collection) {
    await app.reloadCollection(collection);
    app.renderStats();
    app.rerunQuery();
    renderProgress();
    // The open proposal's comparison follows (proposals.js).
    if (za.onSaved) await za.onSaved();
  }

  // --- editing an existing feature
  async function beginEdit(collection, id) {
    const t = app.t;
    const r = await fetch(itemUrl(collection, id));
    if (!r.ok) return;
    const etag = r.headers.get('etag');
    const f = await r.json();
    const schema = await schemaOf(collection);
    const body = $('edit-body');
    body.innerHTML = `<h3>${app.esc(app.label(f.properties))} <small>${app.esc(collection)} · ${app.esc(id)}</small></h3>
      <form class="edit-form" id="edit-form">${formHtml(schema, f.properties, { collection, kind: f.geometry?.type })}
      <div class="buttons"><button type="submit">${app.esc(t('save'))}</button><button type="button" id="edit-cancel">${app.esc(t('cancel'))}</button></div></form>
      <div id="edit-msg" role="status"></div><div id="edit-stale" role="alert"></div><div id="edit-conflict"></div>`;
    const form = $('edit-form');
    const edit = { collection, id, etag, original: readForm(form) };
    openEdit = edit;
    form.querySelector('[data-type]')?.focus();
    $('edit-cancel').addEventListener('click', () => { body.innerHTML = ''; });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const now = readForm(form);
      const changed = Object.fromEntries(Object.entries(now).filter(([k, v]) => JSON.stringify(v) !== JSON.stringify(edit.original[k])));
      await savePatch(edit, changed);
    });
  }
  async function savePatch(edit, changed) {
    const t = app.t;
    if (!Object.keys(changed).length) return;
    edit.saving = true;
    const r = await send('PATCH', itemUrl(edit.collection, edit.id), { body: { properties: changed }, etag: edit.etag, type: 'application/merge-patch+json' }).finally(() => { edit.saving = false; });
    if (r.status === 200) {
      edit.etag = r.etag;
      if ($('edit-stale')) $('edit-stale').innerHTML = '';
      edit.original = { ...edit.original, ...changed };
      if ($('edit-conflict')) $('edit-conflict').innerHTML = '';
      message(app.esc(fill(t('saved'), { rev: r.revision })), 'yes');
      await afterWrite(edit.collection);
    } else if (r.status === 412) {
      await showConflict(edit, changed);
    } else {
      message(app.esc(r.json ? app.errorText(r.json) : `${r.status}`), 'no');
    }
  }
  // A value as a person reads it: text as is, a status by its name, a
  // number in the page's locale, nothing as a dash.
  function shownValue(k, v) {
    if (v === null || v === undefined || v === '') return '—';
    if (k === 'status') return app.statusText(v);
    if (typeof v === 'number') return `${v.toLocaleString(app.state.lang === 'en' ? 'en' : 'zh-CN')} ${app.unitOf(k) || ''}`.trim();
    return typeof v === 'object' ? JSON.stringify(v) : String(v);
  }
  const localTime = (iso) => new Date(iso).toLocaleString(app.state.lang === 'en' ? 'en-GB' : 'zh-CN');
  // Someone saved first: show what they saved next to what this user
  // changed, and let them reapply their changes on top or discard them.
  async function showConflict(edit, changed) {
    const t = app.t;
    const esc = app.esc;
    const r = await fetch(itemUrl(edit.collection, edit.id));
    if (!r.ok) { message(esc(`${r.status}`), 'no'); return; }
    const theirs = await r.json();
    const newEtag = r.headers.get('etag');
    const h = await app.getJSON(`${itemPath(edit.collection, edit.id)}/history`);
    const last = h.versions[h.versions.length - 1];
    // Per field: theirs and yours, yours chosen unless unticked; what they
    // changed that this user did not is listed, and kept.
    const rows = Object.entries(changed).map(([k, v]) => `<tr><th scope="row">${esc(app.propTitle(k))}</th><td class="theirs">${esc(shownValue(k, theirs.properties[k]))}</td><td class="yours">${esc(shownValue(k, v))}</td>
      <td><label><input type="checkbox" class="keep-mine" data-field="${esc(k)}" checked> ${esc(t('keep_mine'))}</label></td></tr>`);
    const alsoTheirs = Object.keys(theirs.properties).filter((k) => !(k in changed) && JSON.stringify(theirs.properties[k] ?? null) !== JSON.stringify(edit.original[k] ?? null));
    const also = alsoTheirs.length ? `<p>${esc(t('also_theirs'))} ${alsoTheirs.map((k) => `${esc(app.propTitle(k))}: ${esc(shownValue(k, theirs.properties[k]))}`).join('; ')}</p>` : '';
    $('edit-conflict').innerHTML = `<div class="conflict" role="alert"><p>${esc(fill(t('conflict'), { who: last.who, time: localTime(last.time), rev: last.revision }))}</p>
      <table><thead><tr><th>${esc(t('field'))}</th><th>${esc(t('theirs'))}</th><th>${esc(t('yours'))}</th><th></th></tr></thead><tbody>${rows.join('')}</tbody></table>${also}
      <div class="buttons"><button type="button" id="conflict-reapply">${esc(t('reapply'))}</button><button type="button" id="conflict-discard">${esc(t('discard'))}</button></div></div>`;
    message('');
    $('conflict-reapply').addEventListener('click', () => {
      edit.etag = newEtag;
      // What they saved is the base now; only the fields kept as mine go on top.
      edit.original = { ...edit.original, ...Object.fromEntries(alsoTheirs.map((k) => [k, theirs.properties[k] ?? null])) };
      const mine = Object.fromEntries([...document.querySelectorAll('#edit-conflict .keep-mine:checked')].map((el) => [el.dataset.field, changed[el.dataset.field]]));
      if (Object.keys(mine).length) savePatch(edit, mine); else beginEdit(edit.collection, edit.id);
    });
    $('conflict-discard').addEventListener('click', () => beginEdit(edit.collection, edit.id));
    $('conflict-reapply').focus();
    await afterWrite(edit.collection);
  }

  async function remove(collection, id) {
    const t = app.t;
    if (!window.confirm(t('confirm_delete'))) return;
    const cur = await fetch(itemUrl(collection, id));
    if (!cur.ok) return;
    const r = await send('DELETE', itemUrl(collection, id), { etag: cur.headers.get('etag') });
    za.map.closePopup();
    $('edit-body').innerHTML = '<div id="edit-msg" role="status"></div>';
    if (r.status === 204) message(app.esc(fill(t('deleted'), { rev: r.revision })), 'yes');
    else message(app.esc(r.json ? app.errorText(r.json) : `${r.status}`), 'no');
    await afterWrite(collection);
  }

  // --- drawing a new feature, then its form
  const draw = { kind: null, collection: null, points: [], shape: null };
  function stopDrawing() {
    if (draw.shape) draw.shape.remove();
    Object.assign(draw, { kind: null, collection: null, points: [], shape: null });
    za.drawing = false;
    za.map.doubleClickZoom.enable();
    $('new-draw').setAttribute('aria-pressed', 'false');
  }
  function startDrawing() {
    const c = app.collections().find((x) => x.id === $('new-collection').value);
    if (!c) return;
    stopDrawing();
    draw.kind = c.geometryType.replace('Multi', '');
    draw.collection = c.id;
    za.drawing = true;
    za.map.doubleClickZoom.disable();
    $('new-draw').setAttribute('aria-pressed', 'true');
    $('edit-body').innerHTML = `<p class="hint">${app.esc(app.t(draw.kind === 'Point' ? 'drawing_point' : 'drawing_line'))}</p>`;
  }
  za.clickHook = (latlng) => {
    if (!za.drawing) return false;
    draw.points.push(latlng);
    if (draw.kind === 'Point') { finishDrawing(); return true; }
    const style = { color: '#e07b00', dashArray: '4 4', className: 'za-new-shape', interactive: false };
    if (draw.shape) draw.shape.setLatLngs(draw.points);
    else draw.shape = (draw.kind === 'Polygon' ? L.polygon(draw.points, style) : L.polyline(draw.points, style)).addTo(za.map);
    return true;
  };
  function finishDrawing() {
    const { kind, collection, points } = draw;
    // Vertices are where the user put them on the map; WGS84 for the store.
    // A vertex repeating the one before (the two clicks of the double-click
    // that ends a line) is one vertex.
    const pos = points.map(app.fromMap).map((p) => [Number(p.lng.toFixed(7)), Number(p.lat.toFixed(7))])
      .filter((p, i, all) => i === 0 || p[0] !== all[i - 1][0] || p[1] !== all[i - 1][1]);
    const enough = kind === 'Point' ? pos.length >= 1 : kind === 'Polygon' ? pos.length >= 3 : pos.length >= 2;
    if (!enough) return;
    const geometry = kind === 'Point' ? { type: 'Point', coordinates: pos[0] }
      : kind === 'Polygon' ? { type: 'Polygon', coordinates: [[...pos, pos[0]]] }
        : { type: 'LineString', coordinates: pos };
    const shape = draw.shape;
    draw.shape = null;
    stopDrawing();
    newFeatureForm(collection, geometry, shape);
  }
  async function newFeatureForm(collection, geometry, shape) {
    const t = app.t;
    const schema = await schemaOf(collection);
    const body = $('edit-body');
    body.innerHTML = `<h3>${app.esc(collection)}</h3><form class="edit-form" id="edit-form">${formHtml(schema, {}, { withId: true, collection, geometry, kind: geometry.type })}
      <div class="buttons"><button type="submit">${app.esc(t('save'))}</button><button type="button" id="edit-cancel">${app.esc(t('cancel'))}</button></div></form>
      <div id="edit-msg" role="status"></div>`;
    const form = $('edit-form');
    const done = () => { if (shape) shape.remove(); };
    form.querySelector('input, select')?.focus();
    $('edit-cancel').addEventListener('click', () => { done(); body.innerHTML = ''; });
    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      const props = readForm(form);
      const id = $('f-__id').value.trim();
      for (const [k, v] of Object.entries(props)) if (v === null) delete props[k];
      const feature = { type: 'Feature', geometry, properties: props };
      if (id) feature.id = id;
      const r = await send('POST', `/api/collections/${encodeURIComponent(collection)}/items${inView()}`, { body: feature });
      if (r.status === 201) {
        done();
        await afterWrite(collection);
        await beginEdit(collection, String(r.json.id));
        message(app.esc(fill(t('saved'), { rev: r.revision })), 'yes');
      } else {
        message(app.esc(r.json ? app.errorText(r.json) : `${r.status}`), 'no');
      }
    });
  }

  // --- a feature's history, in the side panel
  async function showHistory(collection, id) {
    const t = app.t;
    const esc = app.esc;
    const h = await app.getJSON(`${itemPath(collection, id)}/history`);
    $('history').hidden = false;
    const items = h.versions.slice().reverse().map((v) => {
      const status = v.feature?.properties?.status;
      return `<li data-revision="${v.revision}"><b>${esc(v.time.slice(0, 10))}</b> ${esc(t(`op_${v.op}`))} · ${esc(v.who)} · r${v.revision}${status ? ` · ${esc(app.statusText(status))}` : ''}</li>`;
    });
    $('history-body').innerHTML = `<p>${esc(collection)} · ${esc(id)}</p><ol class="history-list" reversed>${items.join('')}</ol>`;
    // The latest versions in the feature's open popup too; all of them in
    // the side panel.
    // (The newest popup: a closed one may still be fading out. Its content
    // is extended in place; re-rendering it would drop the list.)
    const popups = document.querySelectorAll('.leaflet-popup .popup');
    const popup = popups[popups.length - 1];
    if (popup) {
      popup.querySelector('.popup-history')?.remove();
      const more = items.length > 5 ? `<li>… (${items.length})</li>` : '';
      popup.insertAdjacentHTML('beforeend', `<div class="popup-history"><b>${esc(t('history'))}</b><ol reversed>${items.slice(0, 5).join('')}${more}</ol></div>`);
    }
  }

  // Popup buttons (app.js renders them into each feature's popup).
  za.popupExtras = (collection, f) => {
    const t = app?.t || ((k) => k);
    const id = app?.esc(String(f.id));
    const editing = canEdit() && !app?.state.asof;
    return `<div class="popup-actions" data-collection="${app?.esc(collection)}" data-id="${id}">
      <button type="button" data-action="history">${app?.esc(t('history'))}</button>
      ${editing ? `<button type="button" data-action="edit">${app.esc(t('edit'))}</button><button type="button" data-action="delete">${app.esc(t('delete'))}</button>` : ''}</div>`;
  };

  // --- the time slider: days from the first revision to today
  const DAY = 86_400_000;
  let firstDay = null;
  const dayText = (d) => new Date(firstDay + d * DAY).toISOString().slice(0, 10);
  async function setupTime() {
    const range = $('time-range');
    if (!app.landing.history) { $('time').hidden = true; return; }
    const first = await app.getJSON('/api/changes?since=0&limit=1').catch(() => null);
    if (!first?.changes?.length) { $('time').hidden = true; return; }
    firstDay = Date.parse(first.changes[0].time.slice(0, 10));
    const today = Math.floor((Date.now() - firstDay) / DAY);
    range.max = String(today);
    range.value = String(today);
    range.setAttribute('aria-valuetext', app.t('time_now'));
  }
  function timeLabel() {
    const range = $('time-range');
    const text = app.state.asof ? fill(app.t('as_of'), { date: app.state.asof.slice(0, 10) }) : app.t('time_now');
    $('time-label').textContent = text;
    range.setAttribute('aria-valuetext', text);
  }
  let timeTimer = null;
  async function applyTime() {
    const range = $('time-range');
    const d = Number(range.value);
    // The end of the picked day (UTC): day 0 holds the import itself.
    app.state.asof = d >= Number(range.max) ? null : `${dayText(d)}T23:59:59Z`;
    timeLabel();
    renderSession();
    za.map.closePopup();
    await app.reloadAll();
    app.renderStats();
    app.rerunQuery();
    app.refreshGaps();
    za.timeApplied = (za.timeApplied || 0) + 1;
  }

  // --- progress chart: kilometres per status at each quarter's end, of the
  // first line layer (roads, in the sample and an OSM import); only where
  // the server keeps history.
  async function renderProgress() {
    const el = $('progress-body');
    const esc = app.esc;
    const lines = app.collections().find((c) => c.geometryType === 'LineString');
    $('progress').hidden = !app.landing.history || !lines;
    if ($('progress').hidden) return;
    let rep;
    try {
      rep = await app.getJSON(`/api/stats/progress?collection=${encodeURIComponent(lines.id)}&step=quarter`);
    } catch (e) {
      el.innerHTML = `<p class="hint">${esc(app.errorText(e))}</p>`;
      return;
    }
    const statuses = app.scenarios.planned || ['existing', 'under_construction', 'planned'];
    const STATUS_COLOUR = Object.fromEntries(statuses.map((k, i) => [k, STATUS_COLOURS[i % STATUS_COLOURS.length]]));
    const steps = rep.steps;
    const max = Math.max(1, ...steps.map((s) => statuses.reduce((a, k) => a + (s.by_status[k]?.length_km || 0), 0)));
    // Axes: kilometres up the left (0, half, a round top), quarters along
    // the bottom.
    const w = 320, h = 150, left = 34, bottom = 18, top = 8;
    const step = 10 ** Math.floor(Math.log10(max)) / 2;
    const ymax = Math.ceil(max / step) * step;
    const bw = Math.max(3, (w - left) / steps.length - 3);
    const yOf = (km) => h - bottom - (km / ymax) * (h - bottom - top);
    const ticks = [0, ymax / 2, ymax].map((km) => `<line class="grid" x1="${left - 3}" x2="${w}" y1="${yOf(km).toFixed(1)}" y2="${yOf(km).toFixed(1)}"/><text class="tick" x="${left - 5}" y="${(yOf(km) + 3).toFixed(1)}" text-anchor="end">${km.toLocaleString()}</text>`);
    const axes = `${ticks.join('')}<text class="unit" x="2" y="${top + 2}">${esc(app.t('km'))}</text><line class="axis" x1="${left}" x2="${w}" y1="${h - bottom}" y2="${h - bottom}"/>`;
    const bars = steps.map((s, i) => {
      let y = h - bottom;
      const x = left + 2 + i * (bw + 3);
      const rects = statuses.map((k) => {
        const km = s.by_status[k]?.length_km || 0;
        const bh = (km / ymax) * (h - bottom - top);
        y -= bh;
        return `<rect x="${x.toFixed(1)}" y="${y.toFixed(1)}" width="${bw.toFixed(1)}" height="${bh.toFixed(1)}" fill="${STATUS_COLOUR[k]}"><title>${esc(s.end.slice(0, 10))} ${esc(app.statusText(k))}: ${km} km</title></rect>`;
      });
      const quarter = `${s.start.slice(2, 4)}Q${Math.floor(Number(s.start.slice(5, 7)) / 3) + 1}`;
      const every = Math.max(1, Math.ceil(steps.length / 6));
      return `${rects.join('')}${i % every === 0 ? `<text class="tick" x="${x.toFixed(1)}" y="${h - 4}">${quarter}</text>` : ''}`;
    });
    const legend = statuses.map((k) => `<span><svg width="10" height="10" aria-hidden="true"><rect width="10" height="10" fill="${STATUS_COLOUR[k]}"/></svg> ${esc(app.statusText(k))}</span>`).join(' ');
    const last = steps[steps.length - 1]?.by_status || {};
    const rows = statuses.map((k) => `<tr><th scope="row">${esc(app.statusText(k))}</th><td>${last[k]?.count ?? 0}</td><td>${(last[k]?.length_km ?? 0).toFixed(2)} ${esc(app.t('km'))}</td></tr>`);
    el.innerHTML = `<svg class="progress-chart" viewBox="0 0 ${w} ${h}" width="100%" role="img" aria-label="${esc(app.t('progress'))}">${axes}${bars.join('')}</svg>
      <div class="hint">${legend}</div><table class="progress-table">${rows.join('')}</table>`;
  }

  // --- live updates: one EventSource; changes by anyone redraw what they touch
  // The feature whose form is open changed underneath (someone else's
  // save, or another tab's): say so, with who and when, before a save
  // meets a conflict. The form's own save is told apart by its ETag.
  async function staleCheck(c) {
    const edit = openEdit;
    // (A deletion needs no notice: the form's save then says the feature
    // is gone.)
    if (!edit || c.op === 'delete' || c.collection !== edit.collection || String(c.id) !== String(edit.id) || !$('edit-stale')) return;
    if (edit.saving) await new Promise((r) => setTimeout(r, 300));
    const r = await fetch(itemUrl(edit.collection, edit.id), { method: 'HEAD' }).catch(() => null);
    const box = $('edit-stale');
    if (!r || !r.ok || !box || openEdit !== edit || r.headers.get('etag') === edit.etag) return;
    box.innerHTML = `<p class="stale">${app.esc(fill(app.t('stale'), { who: c.who, time: localTime(c.time), rev: c.revision }))}</p>`;
  }
  function listen() {
    if (!app.landing.history) return;
    const es = new EventSource('/api/events');
    const pending = new Set();
    let timer = null;
    es.addEventListener('change', (e) => {
      za.events += 1;
      const c = JSON.parse(e.data);
      pending.add(c.collection);
      staleCheck(c);
      clearTimeout(timer);
      timer = setTimeout(async () => {
        const touched = [...pending];
        pending.clear();
        const range = $('time-range');
        const atNow = !app.state.asof;
        const today = Math.floor((Date.now() - firstDay) / DAY);
        if (firstDay !== null && Number(range.max) < today) { range.max = String(today); if (atNow) range.value = range.max; }
        if (!atNow) return;
        await Promise.all(touched.map((id) => app.reloadCollection(id)));
        app.renderStats();
        app.rerunQuery();
        app.refreshGaps();
        renderProgress();
        za.liveApplied = (za.liveApplied || 0) + 1;
      }, 100);
    });
    za.eventSource = es;
  }

  function applyLanguage() {
    Object.assign(app.I18N.zh, MORE.zh);
    Object.assign(app.I18N.en, MORE.en);
    document.querySelectorAll('[data-i18n]').forEach((el) => { el.textContent = app.t(el.dataset.i18n); });
    const sel = $('new-collection');
    const keep = sel.value;
    // Every layer but the zone's; first the first line layer (what is
    // drawn most: roads, pipes).
    const layers = app.collections().filter((c) => c.id !== app.zoneCollection());
    sel.innerHTML = layers.map((c) => `<option value="${app.esc(c.id)}">${app.esc(app.state.lang === 'zh' && c.title_zh ? c.title_zh : c.title)}</option>`).join('');
    sel.value = keep || layers.find((c) => c.geometryType === 'LineString')?.id || layers[0]?.id || '';
    timeLabel();
    renderSession();
    renderProgress();
  }

  za.onReady = async () => {
    app = za.app;
    Object.assign(app.I18N.zh, MORE.zh);
    Object.assign(app.I18N.en, MORE.en);
    za.onLanguage = applyLanguage;
    if (!(await whoAmI())) { session.token = null; sessionStorage.removeItem(TOKEN_KEY); }
    await setupTime();
    applyLanguage();
    listen();

    $('signin').addEventListener('click', () => (session.name ? signOut() : openSignIn()));
    $('signin-cancel').addEventListener('click', () => $('signin-dialog').close());
    $('signin-form').addEventListener('submit', async (e) => {
      e.preventDefault();
      session.token = $('token-input').value.trim();
      if (await whoAmI()) {
        sessionStorage.setItem(TOKEN_KEY, session.token);
        $('signin-dialog').close();
        renderSession();
        $('signin').focus();
      } else {
        session.token = null;
        $('signin-error').textContent = app.t('bad_token');
      }
    });
    $('new-draw').addEventListener('click', () => (za.drawing ? finishDrawing() : startDrawing()));
    za.map.on('dblclick', () => { if (za.drawing) finishDrawing(); });
    document.addEventListener('keydown', (e) => {
      if (!za.drawing) return;
      // Keyboard only: arrows pan the map, Space adds its centre.
      if (e.key === ' ' && document.activeElement === $('map')) { e.preventDefault(); za.clickHook(za.map.getCenter()); }
      if (e.key === 'Enter') { e.preventDefault(); finishDrawing(); }
      if (e.key === 'Escape') { stopDrawing(); $('edit-body').innerHTML = ''; }
    });
    $('time-range').addEventListener('input', () => { clearTimeout(timeTimer); timeTimer = setTimeout(applyTime, 150); });
    $('time-now').addEventListener('click', () => { $('time-range').value = $('time-range').max; applyTime(); });
    // Popup buttons: one delegated listener (Leaflet keeps popup clicks
    // from the map, not from the document).
    document.addEventListener('click', (e) => {
      const b = e.target.closest('.popup-actions button');
      if (!b) return;
      const { collection, id } = b.parentElement.dataset;
      if (b.dataset.action === 'edit') beginEdit(collection, id);
      if (b.dataset.action === 'delete') remove(collection, id);
      if (b.dataset.action === 'history') showHistory(collection, id);
    });
  };
})();
