// zoneatlas proposals: a switcher (the record, or a proposal: create, open,
// rename), the open proposal's changes drawn over the map (added, changed,
// removed), the comparison with the record (its consequences, in the
// scenario shown), adopt and withdraw for those allowed, and a link that
// opens the proposal. Every read of the map answers from the open
// proposal (app.js adds proposal= to each); edits go into it (edit.js).
// Other people's edits to the same proposal are picked up every few
// seconds. Plain script, loaded last; builds on window.zoneatlas.app.
'use strict';

(() => {
  const za = window.zoneatlas;
  const MORE = {
    zh: {
      proposals: '方案', the_record: '现状记录（不在方案中）', new_proposal: '新建方案', create: '创建', title_ph: '方案名称',
      rename: '重命名', adopt: '采纳', withdraw: '撤回', link: '链接', compare: '与现状比较', author: '作者', base: '基于版本',
      changes: '处修改', status_open: '草拟中', status_adopted: '已采纳', status_withdrawn: '已撤回', added: '新增', changed: '修改', removed: '删除',
      zone_change: '全区覆盖率', area_change: '分区覆盖率', sites_change: '服务变化的项目', loads: '变电站负荷', spof: '单点故障', gained: '新增', lost: '消除',
      nothing_changes: '无变化', record: '现状', proposal: '方案', conflicts: '冲突：现状记录也修改了这些要素', keep_proposal: '保留方案的', keep_record: '采用现状的',
      adopted_as: '已采纳为现状记录的版本 {rev}', sign_in_to_propose: '登录后可新建和编辑方案', in_proposal: '方案：{title}', confirm_adopt: '将此方案的全部修改写入现状记录？',
      by_status: '按状态', copied: '已复制链接', its_log: '方案修改记录', op_revert: '采用现状的', op_rebase: '保留方案的',
    },
    en: {
      proposals: 'Proposals', the_record: 'The record (no proposal)', new_proposal: 'New proposal', create: 'Create', title_ph: 'Proposal title',
      rename: 'Rename', adopt: 'Adopt', withdraw: 'Withdraw', link: 'Link', compare: 'Compared with the record', author: 'Author', base: 'Based on revision',
      changes: 'changes', status_open: 'draft', status_adopted: 'adopted', status_withdrawn: 'withdrawn', added: 'added', changed: 'changed', removed: 'removed',
      zone_change: 'Zone coverage', area_change: 'Coverage by area', sites_change: 'Sites whose service changes', loads: 'Substation loads', spof: 'Single points of failure', gained: 'gained', lost: 'removed',
      nothing_changes: 'no change', record: 'Record', proposal: 'Proposal', conflicts: 'Conflicts: the record changed these features too', keep_proposal: 'Keep the proposal’s', keep_record: 'Take the record’s',
      adopted_as: 'Adopted as revision {rev} of the record', sign_in_to_propose: 'Sign in to create and edit proposals', in_proposal: 'Proposal: {title}', confirm_adopt: 'Write every change of this proposal into the record?',
      by_status: 'by status', copied: 'Link copied', its_log: 'Changes in this proposal', op_revert: 'took the record’s', op_rebase: 'kept over the record’s',
    },
  };
  // How a change is drawn over the record: its colour and dash.
  const CHANGE_STYLE = {
    added: { color: '#2e7d32', dashArray: null },
    changed: { color: '#ef6c00', dashArray: '8 5' },
    removed: { color: '#c62828', dashArray: '2 6' },
  };
  // How often the open proposal is checked for others' edits.
  const POLL_MS = 3000;
  let app = null;
  const $ = (id) => document.getElementById(id);
  const fill = (s, vars) => s.replace(/\{(\w+)\}/g, (_, k) => vars[k] ?? '');
  let list = [];
  let open = null; // the open proposal's description
  let diff = null; // its comparison
  let log = []; // its own change log
  let message = '';
  let readError = null; // why the last read failed (the list, or the proposal opened)
  const overlay = () => (za.proposalLayer ||= L.layerGroup().addTo(za.map));
  const role = () => za.session?.role?.() || null;
  const canEdit = () => role() === 'editor' || role() === 'admin';
  const pct = (x) => (x == null ? '—' : `${(x * 100).toFixed(1)}%`);

  async function send(method, url, body) {
    const headers = { ...(za.session?.auth?.() || {}) };
    if (body !== undefined) headers['Content-Type'] = 'application/json';
    const r = await fetch(url, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
    const json = await r.json().catch(() => ({}));
    return { ok: r.ok, status: r.status, json };
  }
  const url = (id, rest = '') => `/api/proposals/${encodeURIComponent(id)}${rest}`;

  // The proposals. A failed read (a busy server, a dropped connection)
  // keeps the last list and says why in the panel; the next poll tries
  // again.
  async function loadList() {
    try {
      list = (await app.getJSON('/api/proposals')).proposals;
      readError = null;
      return true;
    } catch (e) {
      readError = e;
      return false;
    }
  }

  // Open a proposal (or the record, `null`): every layer, the statistics,
  // the answer and the gaps are asked again from its view.
  async function openProposal(id, { reload = true } = {}) {
    app.state.proposal = id || null;
    // Not listed: asked for by itself. Gone (404), the record is shown;
    // unreadable for now, the view stays in it and the poll tries again.
    let gone = false;
    open = id ? list.find((p) => p.id === id) || (await app.getJSON(url(id)).catch((e) => { if (e.status === 404) gone = true; else readError = e; return null; })) : null;
    if (gone) app.state.proposal = null;
    diff = null;
    app.writeHash();
    document.body.classList.toggle('in-proposal', Boolean(app.state.proposal));
    if (reload) await refreshView();
    await compare();
    render();
  }

  async function refreshView() {
    za.map.closePopup();
    await app.reloadAll();
    app.renderStats();
    app.rerunQuery();
    app.refreshGaps();
  }

  async function compare() {
    overlay().clearLayers();
    if (!open) return;
    const [d, l] = await Promise.all([
      app.getJSON(url(open.id, '/diff')).catch((e) => { message = app.errorText(e); return null; }),
      app.getJSON(url(open.id, '/changes')).catch(() => ({ changes: [] })),
    ]);
    diff = d;
    log = l.changes || [];
    if (!diff) return;
    for (const f of diff.features.features) {
      const s = CHANGE_STYLE[f.change];
      const layer = L.geoJSON(f, {
        coordsToLatLng: app.coordsToLatLng,
        interactive: false,
        style: () => ({ color: s.color, weight: 7, opacity: 0.55, dashArray: s.dashArray, fill: false }),
        pointToLayer: (_, ll) => L.circleMarker(ll, { radius: 11, color: s.color, weight: 3, fill: false, dashArray: s.dashArray, interactive: false }),
      });
      layer.addTo(overlay());
    }
    za.proposalDrawn = diff.features.features.length;
  }

  function statusName(s) { return app.t(`status_${s}`); }

  function comparisonHtml() {
    if (!diff) return '';
    const esc = app.esc, t = app.t, svc = app.svc;
    const sc = diff.consequences?.[app.state.scenario];
    const fc = diff.features;
    const rows = [];
    rows.push(`<p class="proposal-counts"><span class="chg-added">${esc(t('added'))} ${fc.added}</span> · <span class="chg-changed">${esc(t('changed'))} ${fc.changed}</span> · <span class="chg-removed">${esc(t('removed'))} ${fc.removed}</span></p>`);
    if (diff.conflicts?.length) {
      rows.push(`<div class="proposal-conflicts"><p class="no">${esc(t('conflicts'))}</p><ul>${diff.conflicts.map((c) => `<li>${esc(c.collection)}/${esc(c.id)}
        ${canEdit() && open.status === 'open' ? `<button type="button" data-rebase="proposal" data-collection="${esc(c.collection)}" data-id="${esc(c.id)}">${esc(t('keep_proposal'))}</button>
        <button type="button" data-rebase="record" data-collection="${esc(c.collection)}" data-id="${esc(c.id)}">${esc(t('keep_record'))}</button>` : ''}</li>`).join('')}</ul></div>`);
    }
    if (!sc) return rows.join('');
    const delta = (d) => (d == null || Math.abs(d) < 1e-9 ? '' : `<span class="${d > 0 ? 'yes' : 'no'}">${d > 0 ? '+' : ''}${(d * 100).toFixed(1)}</span>`);
    const zone = Object.entries(sc.zone || {}).filter(([, z]) => Math.abs(z.change || 0) > 1e-9);
    rows.push(`<h3>${esc(t('zone_change'))}</h3>`);
    rows.push(zone.length ? `<table class="proposal-zone"><tr><th>${esc(t('service'))}</th><th>${esc(t('record'))}</th><th>${esc(t('proposal'))}</th><th></th></tr>${zone.map(([k, z]) => `<tr data-service="${esc(k)}"><td>${esc(svc(k))}</td><td>${pct(z.before)}</td><td>${pct(z.after)}</td><td>${delta(z.change)}</td></tr>`).join('')}</table>` : `<p class="hint">${esc(t('nothing_changes'))}</p>`);
    const areas = (sc.areas || []).flatMap((a) => Object.entries(a.services || {}).filter(([, x]) => Math.abs(x.change || 0) > 1e-9).map(([k, x]) => [a, k, x]));
    if (areas.length) {
      rows.push(`<h3>${esc(t('area_change'))}</h3><table class="proposal-areas">${areas.map(([a, k, x]) => `<tr data-area="${esc(a.id)}" data-service="${esc(k)}"><td>${esc(app.state.lang === 'en' ? a.name_en || a.name || a.id : a.name || a.id)}</td><td>${esc(svc(k))}</td><td>${pct(x.before)} → ${pct(x.after)}</td></tr>`).join('')}</table>`);
    }
    if (sc.sites?.length) {
      const side = (v) => (!v ? '—' : `${v.connectable ? '✔' : '✘'} ${esc(v.connect_to || '')}${v.sources ? ` (${v.sources.map(esc).join(', ')})` : ''}`);
      rows.push(`<h3>${esc(t('sites_change'))}</h3><table class="proposal-sites">${sc.sites.flatMap((s) => Object.entries(s.services).map(([k, x]) => `<tr data-site="${esc(s.site.id)}"><td>${esc(s.site.name || s.site.id)}</td><td>${esc(svc(k))}</td><td>${side(x.before)} → ${side(x.after)}</td></tr>`)).join('')}</table>`);
    }
    if (sc.substations?.length) {
      const load = (v) => (!v ? '—' : v.load_ratio == null ? `${Math.round(v.demand_kw)} kW` : `${Math.round(v.load_ratio * 100)}%`);
      rows.push(`<h3>${esc(t('loads'))}</h3><table class="proposal-loads">${sc.substations.map((s) => `<tr data-substation="${esc(s.id)}"><td>${esc((s.after || s.before)?.substation?.name || s.id)}</td><td>${load(s.before)} → ${load(s.after)}</td></tr>`).join('')}</table>`);
    }
    const spof = Object.entries(sc.critical || {}).filter(([, c]) => c.gained.length || c.lost.length);
    if (spof.length) {
      rows.push(`<h3>${esc(t('spof'))}</h3><ul>${spof.map(([k, c]) => `<li>${esc(svc(k))}: ${c.before} → ${c.after}${c.gained.length ? `; ${esc(t('gained'))} ${c.gained.map((g) => esc(g.asset.name || g.asset.id)).join(', ')}` : ''}${c.lost.length ? `; ${esc(t('lost'))} ${c.lost.map((g) => esc(g.asset.name || g.asset.id)).join(', ')}` : ''}</li>`).join('')}</ul>`);
    }
    const status = Object.entries(sc.by_status || {}).filter(([, x]) => x.differs);
    if (status.length) {
      rows.push(`<h3>${esc(t('by_status'))}</h3><ul>${status.map(([k, x]) => {
        const keys = [...new Set([...Object.keys(x.before || {}), ...Object.keys(x.after || {})])];
        const unit = { length_km: ' km', area_m2: ' m²' }[x.measure] || '';
        const fig = (v) => `${Number(v?.[x.measure] ?? 0).toLocaleString(undefined, { maximumFractionDigits: 2 })}${unit}`;
        return `<li>${esc(svc(k))}: ${keys.map((st) => `${esc(app.statusText(st))} ${fig(x.before?.[st])} → ${fig(x.after?.[st])}`).join('; ')}</li>`;
      }).join('')}</ul>`);
    }
    return rows.join('');
  }

  function render() {
    const esc = app.esc, t = app.t;
    const sel = $('proposal-select');
    sel.innerHTML = `<option value="">${esc(t('the_record'))}</option>${list.map((p) => `<option value="${esc(p.id)}">${esc(p.title)} (${esc(statusName(p.status))})</option>`).join('')}`;
    sel.value = open ? open.id : '';
    $('proposal-new-form').hidden = !canEdit();
    const badge = $('proposal-badge');
    badge.hidden = !open;
    badge.textContent = open ? fill(t('in_proposal'), { title: open.title }) : '';
    const body = [];
    if (!canEdit()) body.push(`<p class="hint">${esc(t('sign_in_to_propose'))}</p>`);
    if (message) body.push(`<p class="proposal-message" role="status">${esc(message)}</p>`);
    if (readError) body.push(`<p class="no" role="status">${esc(app.errorText(readError))}</p>`);
    if (open) {
      const editable = canEdit() && open.status === 'open';
      body.push(`<p class="hint">${esc(t('author'))} ${esc(open.author)} · ${esc(t('base'))} ${open.base} · ${open.changes} ${esc(t('changes'))} · ${esc(statusName(open.status))}</p>`);
      const link = new URL(`/?proposal=${encodeURIComponent(open.id)}`, location.href).href;
      body.push(`<div class="buttons proposal-actions">
        ${editable ? `<input id="proposal-title" value="${esc(open.title)}" aria-label="${esc(t('title_ph'))}"><button type="button" data-do="rename">${esc(t('rename'))}</button>` : ''}
        ${open.status === 'open' && role() === 'admin' ? `<button type="button" data-do="adopt">${esc(t('adopt'))}</button>` : ''}
        ${editable ? `<button type="button" data-do="withdraw">${esc(t('withdraw'))}</button>` : ''}
        <a id="proposal-link" href="${esc(link)}">${esc(t('link'))}</a>
        <a href="${esc(url(open.id, '/diff?f=html'))}" target="_blank" rel="noopener">${esc(t('compare'))} (HTML)</a></div>`);
      body.push(`<h3>${esc(t('compare'))}</h3><div id="proposal-compare">${comparisonHtml()}</div>`);
      // Who changed what in it, newest first (the last 20).
      const when = (iso) => new Date(iso).toLocaleString(app.state.lang === 'zh' ? 'zh-CN' : 'en-GB', { dateStyle: 'short', timeStyle: 'short' });
      const rows = log.slice(-20).reverse().map((r) => `<li>${esc(when(r.time))} · ${esc(r.who)} · ${esc(app.t(`op_${r.op}`))} ${esc(r.collection)}/${esc(r.feature_id)}</li>`);
      if (rows.length) body.push(`<details id="proposal-log"><summary>${esc(t('its_log'))} (${log.length})</summary><ol class="proposal-log">${rows.join('')}</ol></details>`);
    }
    $('proposal-body').innerHTML = body.join('');
  }

  async function act(what) {
    if (!open) return;
    message = '';
    let r;
    if (what === 'rename') r = await send('PATCH', url(open.id), { title: $('proposal-title').value });
    if (what === 'withdraw') r = await send('POST', url(open.id, '/withdraw'));
    if (what === 'adopt') {
      if (!za.autoConfirm && !window.confirm(app.t('confirm_adopt'))) return;
      r = await send('POST', url(open.id, '/adopt'));
      if (r.ok) {
        message = fill(app.t('adopted_as'), { rev: r.json.revision });
        await loadList();
        await openProposal(null);
        za.adopted = r.json.revision;
        return;
      }
    }
    if (!r) return;
    if (!r.ok) message = app.errorText(r.json);
    await loadList();
    open = list.find((p) => p.id === open.id) || open;
    render();
  }

  async function rebase(collection, id, keep) {
    const r = await send('POST', url(open.id, '/rebase'), { features: [{ collection, id, keep }] });
    message = r.ok ? '' : app.errorText(r.json);
    await loadList();
    open = list.find((p) => p.id === open.id) || open;
    await refreshView();
    await compare();
    render();
  }

  async function create(title) {
    const r = await send('POST', '/api/proposals', { title, description: '' });
    if (!r.ok) { message = app.errorText(r.json); render(); return; }
    message = '';
    $('proposal-new-title').value = '';
    await loadList();
    await openProposal(r.json.id);
  }

  // Others' edits to the open proposal (or its adoption elsewhere).
  async function poll() {
    if (document.hidden) return;
    if (readError && (await loadList())) {
      if (app.state.proposal && !open) await openProposal(app.state.proposal, { reload: false });
      else render();
    }
    if (!open) return;
    const v = await app.getJSON(url(open.id)).catch(() => null);
    if (!v || (v.version === open.version && v.status === open.status && v.record_revision === open.record_revision)) return;
    open = v;
    await loadList();
    await refreshView();
    await compare();
    render();
    za.proposalPolled = (za.proposalPolled || 0) + 1;
  }

  const previousReady = za.onReady;
  za.onReady = async () => {
    if (previousReady) await previousReady();
    app = za.app;
    Object.assign(app.I18N.zh, MORE.zh);
    Object.assign(app.I18N.en, MORE.en);
    // The page's words were set before these were known.
    $('proposal').querySelectorAll('[data-i18n]').forEach((el) => { el.textContent = app.t(el.dataset.i18n); });
    $('proposal').querySelectorAll('[data-i18n-placeholder]').forEach((el) => el.setAttribute('placeholder', app.t(el.dataset.i18nPlaceholder)));
    if (!app.landing.history) { $('proposal').hidden = true; return; }
    await loadList();
    const previousLanguage = za.onLanguage;
    za.onLanguage = () => {
      if (previousLanguage) previousLanguage();
      render();
    };
    $('proposal-select').addEventListener('change', (e) => { message = ''; openProposal(e.target.value || null).catch((err) => za.errors.push(String(err))); });
    $('proposal-new-form').addEventListener('submit', (e) => {
      e.preventDefault();
      const title = $('proposal-new-title').value.trim();
      if (title) create(title).catch((err) => za.errors.push(String(err)));
    });
    $('proposal-body').addEventListener('click', (e) => {
      const b = e.target.closest('button');
      if (!b) return;
      if (b.dataset.do) act(b.dataset.do).catch((err) => za.errors.push(String(err)));
      if (b.dataset.rebase) rebase(b.dataset.collection, b.dataset.id, b.dataset.rebase).catch((err) => za.errors.push(String(err)));
    });
    document.querySelectorAll('input[name=scenario]').forEach((el) => el.addEventListener('change', render));
    // A save in the proposal (edit.js) shows in the comparison at once.
    const previousSaved = za.onSaved;
    za.onSaved = async () => {
      if (previousSaved) await previousSaved();
      if (!open) return;
      await loadList();
      open = list.find((p) => p.id === open.id) || open;
      await compare();
      render();
    };
    za.onSession = () => render();
    // Opened by a link: the view was read with the proposal already.
    if (app.state.proposal) await openProposal(app.state.proposal, { reload: false });
    else render();
    setInterval(() => poll().catch((err) => za.errors.push(String(err))), POLL_MS);
  };
})();
