// zoneatlas vector tiles in the browser: a Mapbox Vector Tile decoder and a
// Leaflet GridLayer that draws one collection's tiles on canvases with the
// page's own styles, and finds the feature under a click. Plain script, no
// build step; the server's /api/collections/{id}/tiles/WebMercatorQuad/...
// is the only source.
'use strict';

(() => {
  const za = (window.zoneatlas = window.zoneatlas || { ready: false, errors: [] });

  // --- MVT decoding (protobuf wire format, the fields MVT 2.1 uses)
  const utf8 = new TextDecoder();
  function decode(buffer) {
    const b = new Uint8Array(buffer);
    let pos = 0;
    const varint = () => {
      let r = 0, s = 1, x;
      do { x = b[pos++]; r += (x & 0x7f) * s; s *= 128; } while (x & 0x80);
      return r;
    };
    const zz = (n) => (n % 2 === 1 ? -(n + 1) / 2 : n / 2);
    const skip = (wire) => {
      if (wire === 0) varint();
      else if (wire === 1) pos += 8;
      else if (wire === 2) pos += varint();
      else if (wire === 5) pos += 4;
      else throw new Error(`MVT: wire type ${wire}`);
    };
    const message = (end, onField) => {
      while (pos < end) {
        const key = varint();
        onField(key >> 3, key & 7);
      }
    };
    const packed = () => {
      const end = varint() + pos;
      const out = [];
      while (pos < end) out.push(varint());
      return out;
    };
    const value = (end) => {
      let v = null;
      message(end, (f, w) => {
        if (f === 1) { const n = varint(); v = utf8.decode(b.subarray(pos, pos + n)); pos += n; }
        else if (f === 2) { v = new DataView(b.buffer, b.byteOffset + pos, 4).getFloat32(0, true); pos += 4; }
        else if (f === 3) { v = new DataView(b.buffer, b.byteOffset + pos, 8).getFloat64(0, true); pos += 8; }
        else if (f === 4 || f === 5) v = varint();
        else if (f === 6) v = zz(varint());
        else if (f === 7) v = varint() === 1;
        else skip(w);
      });
      return v;
    };
    const layers = {};
    message(b.length, (f, w) => {
      if (f !== 3 || w !== 2) return skip(w);
      const end = varint() + pos;
      const layer = { name: '', extent: 4096, keys: [], values: [], raw: [] };
      message(end, (lf, lw) => {
        if (lf === 1) { const n = varint(); layer.name = utf8.decode(b.subarray(pos, pos + n)); pos += n; }
        else if (lf === 2) {
          const fend = varint() + pos;
          const feat = { type: 0, tags: [], geom: [] };
          message(fend, (ff, fw) => {
            if (ff === 1) feat.id = varint();
            else if (ff === 2) feat.tags = packed();
            else if (ff === 3) feat.type = varint();
            else if (ff === 4) feat.geom = packed();
            else skip(fw);
          });
          layer.raw.push(feat);
        } else if (lf === 3) { const n = varint(); layer.keys.push(utf8.decode(b.subarray(pos, pos + n))); pos += n; }
        else if (lf === 4) { const vend = varint() + pos; layer.values.push(value(vend)); }
        else if (lf === 5) layer.extent = varint();
        else skip(lw);
      });
      layer.features = layer.raw.map((r) => {
        const props = {};
        for (let i = 0; i + 1 < r.tags.length; i += 2) props[layer.keys[r.tags[i]]] = layer.values[r.tags[i + 1]];
        return { type: r.type, props, parts: geometry(r.geom, zz) };
      });
      delete layer.raw;
      layers[layer.name] = layer;
    });
    return layers;
  }
  // Command stream -> parts (arrays of [x, y]): points, lines or rings.
  function geometry(cmds, zz) {
    const parts = [];
    let x = 0, y = 0, cur = null;
    for (let i = 0; i < cmds.length;) {
      const id = cmds[i] & 7, count = cmds[i] >> 3;
      i++;
      if (id === 7) { if (cur) cur.push(cur[0]); continue; }
      for (let k = 0; k < count; k++) {
        x += zz(cmds[i++]);
        y += zz(cmds[i++]);
        if (id === 1) { cur = [[x, y]]; parts.push(cur); } else cur.push([x, y]);
      }
    }
    return parts;
  }

  // --- drawing
  function dash(style, k) {
    return style.dashArray ? String(style.dashArray).split(/[ ,]+/).map((n) => Number(n) * k) : [];
  }
  function draw(canvas, layer, style, shift) {
    const ctx = canvas.getContext('2d');
    const dpr = canvas.width / 256;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (!layer) return;
    const k = canvas.width / layer.extent;
    ctx.lineJoin = 'round';
    ctx.lineCap = 'round';
    for (const f of layer.features) {
      const s = style(f.props);
      if (s.hidden) continue;
      ctx.globalAlpha = s.opacity ?? 1;
      ctx.strokeStyle = s.color || '#555';
      ctx.lineWidth = (s.weight ?? 2) * dpr;
      ctx.setLineDash(dash(s, dpr));
      if (f.type === 1) {
        for (const p of f.parts) for (const [x, y] of p) {
          ctx.beginPath();
          ctx.arc(x * k + shift[0] * dpr, y * k + shift[1] * dpr, (s.radius ?? 4) * dpr, 0, 2 * Math.PI);
          if (s.fillColor) { ctx.globalAlpha = s.fillOpacity ?? 0.5; ctx.fillStyle = s.fillColor; ctx.fill(); ctx.globalAlpha = s.opacity ?? 1; }
          ctx.stroke();
        }
        continue;
      }
      ctx.beginPath();
      for (const p of f.parts) {
        p.forEach(([x, y], i) => (i ? ctx.lineTo : ctx.moveTo).call(ctx, x * k, y * k));
      }
      if (f.type === 3 && s.fill !== false) {
        ctx.globalAlpha = s.fillOpacity ?? 0.2;
        ctx.fillStyle = s.fillColor || s.color;
        ctx.fill('evenodd');
        ctx.globalAlpha = s.opacity ?? 1;
      }
      ctx.stroke();
    }
  }

  // Squared distance from p to segment ab.
  function dist2(p, a, b) {
    const dx = b[0] - a[0], dy = b[1] - a[1];
    const len2 = dx * dx + dy * dy;
    const t = len2 ? Math.max(0, Math.min(1, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / len2)) : 0;
    const cx = a[0] + t * dx - p[0], cy = a[1] + t * dy - p[1];
    return cx * cx + cy * cy;
  }
  function inRing(p, ring) {
    let inside = false;
    for (let i = 0, j = ring.length - 1; i < ring.length; j = i++) {
      const [xi, yi] = ring[i], [xj, yj] = ring[j];
      if ((yi > p[1]) !== (yj > p[1]) && p[0] < ((xj - xi) * (p[1] - yi)) / (yj - yi) + xi) inside = !inside;
    }
    return inside;
  }

  // A collection drawn from vector tiles. `options`: collection, style
  // (props -> Leaflet-like style), url (z, y, x -> URL), shift (latlng ->
  // [dx, dy] pixels, for a basemap in another datum), onTile (stats).
  const TileLayer = L.GridLayer.extend({
    initialize(options) {
      L.GridLayer.prototype.initialize.call(this, { ...options, updateWhenZooming: false, keepBuffer: 1 });
      this.cache = new Map(); // tile key -> { layer, canvas, shift }
      this.stats = { requested: 0, loaded: 0, empty: 0, failed: 0, bytes: 0 };
    },
    createTile(coords, done) {
      const canvas = document.createElement('canvas');
      const dpr = Math.min(window.devicePixelRatio || 1, 2);
      canvas.width = canvas.height = 256 * dpr;
      const key = this._tileCoordsToKey(coords);
      const shift = this.options.shift ? this.options.shift(coords) : [0, 0];
      // A basemap in another datum: the whole tile moves by the local offset.
      if (shift[0] || shift[1]) { canvas.style.marginLeft = `${shift[0]}px`; canvas.style.marginTop = `${shift[1]}px`; }
      const url = this.options.url(coords.z, coords.y, coords.x);
      this.stats.requested++;
      fetch(url).then(async (r) => {
        if (r.status === 204) { this.stats.empty++; return null; }
        if (!r.ok) {
          const body = await r.json().catch(() => ({}));
          throw new Error(body.description || `${r.status} ${url}`);
        }
        const buf = await r.arrayBuffer();
        this.stats.bytes += buf.byteLength;
        return decode(buf)[this.options.collection] || null;
      }).then((layer) => {
        this.stats.loaded++;
        this.cache.set(key, { layer, canvas, coords });
        draw(canvas, layer, this.options.style, [0, 0]);
        done(null, canvas);
      }).catch((e) => {
        this.stats.failed++;
        if (this.options.onError) this.options.onError(e);
        done(e, canvas);
      });
      return canvas;
    },
    _removeTile(key) {
      this.cache.delete(key);
      L.GridLayer.prototype._removeTile.call(this, key);
    },
    // Redraw every tile from what it holds (a style change), no fetching.
    restyle() {
      for (const t of this.cache.values()) draw(t.canvas, t.layer, this.options.style, [0, 0]);
    },
    // The feature under a map position (WGS84 lat/lng), within `px` pixels:
    // { id, props } or null. Lines and points by distance, polygons by
    // containment (the nearest edge otherwise).
    hit(latlng, px = 6) {
      const z = this._tileZoom;
      if (z === undefined || !this._map) return null;
      const size = 256;
      const p = this._map.project(latlng, z);
      const tx = Math.floor(p.x / size), ty = Math.floor(p.y / size);
      const t = this.cache.get(`${tx}:${ty}:${z}`);
      if (!t || !t.layer) return null;
      const k = t.layer.extent / size;
      const q = [(p.x - tx * size) * k, (p.y - ty * size) * k];
      const tol2 = (px * k) ** 2;
      let best = null, bestD = Infinity;
      for (const f of t.layer.features) {
        if (this.options.style(f.props).hidden) continue;
        let d = Infinity;
        if (f.type === 1) {
          for (const part of f.parts) for (const v of part) d = Math.min(d, (v[0] - q[0]) ** 2 + (v[1] - q[1]) ** 2);
        } else {
          for (const part of f.parts) for (let i = 1; i < part.length; i++) d = Math.min(d, dist2(q, part[i - 1], part[i]));
          if (f.type === 3 && f.parts.filter((r) => inRing(q, r)).length % 2 === 1) d = Math.min(d, tol2 * 0.99);
        }
        if (d <= tol2 && d < bestD) { bestD = d; best = f; }
      }
      return best ? { id: String(best.props.id), props: best.props } : null;
    },
  });

  za.tiles = { decode, TileLayer };
})();
