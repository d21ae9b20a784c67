// zoneatlas vector tiles in the browser: a Mapbox Vector Tile decoder and a
// Leaflet GridLayer that draws one collection's tiles on canvases with the
// page's own styles, and finds the feature under a click. Plain script, no
// build step; the server's /api/collections/{id}/tiles/WebMercatorQuad/...
// is the only source.
'use strict';

(() => {
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
            // Geometry stays in the buffer: [start, end) of its packed
            // commands, read when drawn (no arrays for 100k features).
            else if (ff === 4) { const n = varint(); feat.g0 = pos; pos += n; feat.g1 = pos; }
            else skip(fw);
          });
          layer.raw.push(feat);
        } else if (lf === 3) { const n = varint(); layer.keys.push(utf8.decode(b.subarray(pos, pos + n))); pos += n; }
        // Values are decoded when a feature's properties are read (ids
        // alone are tens of thousands of strings a tile).
        else if (lf === 4) { const n = varint(); layer.values.push([pos, pos + n]); pos += n; }
        else if (lf === 5) layer.extent = varint();
        else skip(lw);
      });
      // Properties are read lazily; features are grouped for drawing by
      // their tags without the id (so by style), not one group each.
      const idKey = layer.keys.indexOf('id');
      const decoded = new Map();
      layer.valueAt = (i) => {
        if (!decoded.has(i)) {
          const [v0, v1] = layer.values[i];
          const saved = pos;
          pos = v0;
          decoded.set(i, value(v1));
          pos = saved;
        }
        return decoded.get(i);
      };
      layer.features = layer.raw.map((r) => {
        let key = '';
        for (let i = 0; i + 1 < r.tags.length; i += 2) if (r.tags[i] !== idKey) key += `${r.tags[i]}:${r.tags[i + 1]},`;
        return new Feature(layer, b, r.type, r.tags, key, r.g0, r.g1);
      });
      delete layer.raw;
      layers[layer.name] = layer;
    });
    return layers;
  }
  // One feature of a decoded layer: its geometry stays in the tile's bytes.
  class Feature {
    constructor(layer, b, type, tags, key, g0, g1) {
      this.layer = layer; this.b = b; this.type = type; this.tags = tags; this.key = key; this.g0 = g0; this.g1 = g1;
    }
    get props() {
      const props = {};
      for (let i = 0; i + 1 < this.tags.length; i += 2) props[this.layer.keys[this.tags[i]]] = this.layer.valueAt(this.tags[i + 1]);
      return props;
    }
    get parts() { return geometry(this.b, this.g0, this.g1); }
  }

  // Walk a packed command stream in b[g0, g1): calls move(x, y), line(x,
  // y), close() in tile units.
  function walk(b, g0, g1, move, line, close) {
    let pos = g0, x = 0, y = 0;
    const varint = () => {
      let r = 0, s = 1, v;
      do { v = b[pos++]; r += (v & 0x7f) * s; s *= 128; } while (v & 0x80);
      return r;
    };
    const zz = (n) => (n % 2 === 1 ? -(n + 1) / 2 : n / 2);
    while (pos < g1) {
      const c = varint(), id = c & 7, count = c >> 3;
      if (id === 7) { close(); continue; }
      for (let k = 0; k < count; k++) {
        x += zz(varint());
        y += zz(varint());
        (id === 1 ? move : line)(x, y);
      }
    }
  }
  // Command stream -> parts (arrays of [x, y]): points, lines or rings.
  function geometry(b, g0, g1) {
    const parts = [];
    let cur = null;
    walk(b, g0, g1, (x, y) => { cur = [[x, y]]; parts.push(cur); }, (x, y) => cur.push([x, y]), () => { if (cur) cur.push(cur[0]); });
    return parts;
  }

  // --- drawing
  function dash(style, k) {
    return style.dashArray ? String(style.dashArray).split(/[ ,]+/).map((n) => Number(n) * k) : [];
  }
  // Trace a feature's geometry into the current path.
  function trace(ctx, f, k) {
    let sx = 0, sy = 0;
    walk(f.b, f.g0, f.g1,
      (x, y) => { ctx.moveTo(x * k, y * k); sx = x; sy = y; },
      (x, y) => ctx.lineTo(x * k, y * k),
      () => ctx.lineTo(sx * k, sy * k));
  }
  // Features grouped by their tags (so by style): one path, one stroke
  // per group, which is what keeps a dense tile fast to draw.
  function draw(canvas, layer, style) {
    const ctx = canvas.getContext('2d');
    const dpr = canvas.width / 256;
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    if (!layer) return;
    const k = canvas.width / layer.extent;
    ctx.lineJoin = 'round';
    ctx.lineCap = 'round';
    const groups = new Map();
    for (const f of layer.features) {
      let g = groups.get(f.key);
      if (!g) { g = { style: style(f.props), lines: [], areas: [], points: [] }; groups.set(f.key, g); }
      (f.type === 1 ? g.points : f.type === 3 ? g.areas : g.lines).push(f);
    }
    for (const { style: s, lines, areas, points } of groups.values()) {
      if (s.hidden) continue;
      ctx.strokeStyle = s.color || '#555';
      ctx.lineWidth = (s.weight ?? 2) * dpr;
      ctx.setLineDash(dash(s, dpr));
      if (areas.length) {
        ctx.beginPath();
        for (const f of areas) trace(ctx, f, k);
        if (s.fill !== false) {
          ctx.globalAlpha = s.fillOpacity ?? 0.2;
          ctx.fillStyle = s.fillColor || s.color;
          ctx.fill('nonzero');
        }
        ctx.globalAlpha = s.opacity ?? 1;
        ctx.stroke();
      }
      if (lines.length) {
        ctx.globalAlpha = s.opacity ?? 1;
        ctx.beginPath();
        for (const f of lines) trace(ctx, f, k);
        ctx.stroke();
      }
      if (points.length) {
        ctx.beginPath();
        for (const f of points) for (const p of f.parts) for (const [x, y] of p) {
          ctx.moveTo(x * k + (s.radius ?? 4) * dpr, y * k);
          ctx.arc(x * k, y * k, (s.radius ?? 4) * dpr, 0, 2 * Math.PI);
        }
        if (s.fillColor) { ctx.globalAlpha = s.fillOpacity ?? 0.5; ctx.fillStyle = s.fillColor; ctx.fill(); }
        ctx.globalAlpha = s.opacity ?? 1;
        ctx.stroke();
      }
    }
    ctx.globalAlpha = 1;
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
  // (props -> Leaflet-like style), source (see `source`), shift (tile
  // coords -> [dx, dy] pixels, for a basemap in another datum), onError.
  const TileLayer = L.GridLayer.extend({
    initialize(options) {
      L.GridLayer.prototype.initialize.call(this, { ...options, updateWhenZooming: false, keepBuffer: 1 });
      this.cache = new Map(); // tile key -> { layer, canvas, coords }
      this.stats = { requested: 0, loaded: 0, empty: 0, failed: 0, bytes: 0, decodeMs: 0, drawMs: 0 };
    },
    createTile(coords, done) {
      const canvas = document.createElement('canvas');
      const dpr = Math.min(window.devicePixelRatio || 1, 2);
      canvas.width = canvas.height = 256 * dpr;
      const key = this._tileCoordsToKey(coords);
      const shift = this.options.shift ? this.options.shift(coords) : [0, 0];
      // A basemap in another datum: the whole tile moves by the local offset.
      if (shift[0] || shift[1]) { canvas.style.marginLeft = `${shift[0]}px`; canvas.style.marginTop = `${shift[1]}px`; }
      this.stats.requested++;
      this.options.source(coords.z, coords.y, coords.x, this.stats).then((layers) => {
        const layer = (layers && layers[this.options.collection]) || null;
        if (!layer) this.stats.empty++;
        this.stats.loaded++;
        this.cache.set(key, { layer, canvas, coords });
        const t0 = performance.now();
        draw(canvas, layer, this.options.style);
        this.stats.drawMs += performance.now() - t0;
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
      for (const t of this.cache.values()) draw(t.canvas, t.layer, this.options.style);
    },
    // The feature under a map position (WGS84 lat/lng), within `px` pixels:
    // { id, props, px: its distance in pixels } or null. Lines and points
    // by distance, polygons by
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
      const hidden = new Map();
      for (const f of t.layer.features) {
        if (!hidden.has(f.key)) hidden.set(f.key, !!this.options.style(f.props).hidden);
        if (hidden.get(f.key)) continue;
        let d = Infinity;
        const parts = f.parts;
        if (f.type === 1) {
          for (const part of parts) for (const v of part) d = Math.min(d, (v[0] - q[0]) ** 2 + (v[1] - q[1]) ** 2);
        } else {
          for (const part of parts) for (let i = 1; i < part.length; i++) d = Math.min(d, dist2(q, part[i - 1], part[i]));
          if (f.type === 3 && parts.filter((r) => inRing(q, r)).length % 2 === 1) d = Math.min(d, tol2 * 0.99);
        }
        if (d <= tol2 && d < bestD) { bestD = d; best = f; }
      }
      return best ? { id: String(best.props.id), props: best.props, px: Math.sqrt(bestD) / k } : null;
    },
  });

  // Tiles of several collections from one URL (the dataset tile endpoint):
  // each tile is fetched and decoded once, however many layers draw it.
  // `url(z, y, x)` names the tile; returns `(z, y, x, stats) => Promise of
  // {collection: layer} or null`. Recent tiles are kept (a redraw after a
  // style change needs none; `clear()` forgets them after an edit).
  function source(url, keep = 64) {
    const cache = new Map();
    const get = (z, y, x, stats) => {
      const u = url(z, y, x);
      if (cache.has(u)) return cache.get(u);
      const p = fetch(u).then(async (r) => {
        if (r.status === 204) return null;
        if (!r.ok) {
          const body = await r.json().catch(() => ({}));
          throw new Error(body.description || `${r.status} ${u}`);
        }
        const buf = await r.arrayBuffer();
        const t0 = performance.now();
        const layers = decode(buf);
        if (stats) { stats.bytes += buf.byteLength; stats.decodeMs += performance.now() - t0; }
        return layers;
      });
      p.catch(() => cache.delete(u));
      cache.set(u, p);
      while (cache.size > keep) cache.delete(cache.keys().next().value);
      return p;
    };
    get.clear = () => cache.clear();
    return get;
  }

  // app.js builds window.zoneatlas afresh; this stands beside it.
  window.zoneatlasTiles = { decode, source, TileLayer };
})();
