"""Independent check of the server's vector tiles.

Usage: tile_oracle.py BASE_URL DATA_DIR SEED COUNT [LAYER,...]

For COUNT random tiles (z10-z16) over the data's features, fetches each
collection's tile, decodes it with the `mapbox-vector-tile` package, and
compares it with the GeoJSON files projected by pyproj (EPSG:3857) and
tested by shapely:

- ids: a feature whose geometry meets the tile grown by the buffer (64 of
  4096 units) must be in the tile, unless it is a "speck" (a line or polygon
  whose envelope is under 16 units, one pixel of a 256-pixel tile, both
  ways), which must not be; features that only graze the buffer's edge
  (within 1 unit) may be either way.
- coordinates: every decoded vertex inside the tile lies within 1 unit of
  the original geometry (in the buffer, a clipped concave polygon has
  zero-width seams along the clip square), and every original vertex inside the tile lies within 16 units
  (one pixel) of the decoded geometry.

Prints a JSON summary: tiles, features compared, worst errors, problems.
"""
import json
import math
import random
import sys
import urllib.error
import urllib.request

import mapbox_vector_tile
from pyproj import Transformer
from shapely.geometry import box, shape, Point, LineString, MultiLineString, Polygon, MultiPolygon, MultiPoint
from shapely.ops import transform

base, data_dir, seed, count = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
layers = sys.argv[5].split(",") if len(sys.argv) > 5 else [
    "roads", "pipelines", "power_lines", "substations", "parks", "sites", "zone", "water"]
ORIGIN = 20037508.342789244
EXTENT, BUFFER, SPECK = 4096, 64, 16
to_merc = Transformer.from_crs("EPSG:4326", "EPSG:3857", always_xy=True).transform

feats = {}
for name in layers:
    try:
        with open(f"{data_dir}/{name}.geojson", encoding="utf-8") as fh:
            fc = json.load(fh)
    except FileNotFoundError:
        continue
    feats[name] = [(str(f["id"]), transform(to_merc, shape(f["geometry"]))) for f in fc["features"]]

def tile_units(z, x, y):
    size = 2 * ORIGIN / 2 ** z
    x0, y1 = -ORIGIN + x * size, ORIGIN - y * size
    k = EXTENT / size
    return lambda X, Y, Z=None: ((X - x0) * k, (y1 - Y) * k)

def fetch(url):
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()

def decoded_geoms(layer):
    out = {}
    for f in layer["features"]:
        g = f["geometry"]
        t, c = g["type"], g["coordinates"]
        geom = {"Point": lambda: Point(c), "MultiPoint": lambda: MultiPoint(c),
                "LineString": lambda: LineString(c), "MultiLineString": lambda: MultiLineString(c),
                "Polygon": lambda: Polygon(c[0], c[1:]), "MultiPolygon": lambda: MultiPolygon([(p[0], p[1:]) for p in c])}[t]()
        out[str(f["properties"]["id"])] = geom
    return out

def vertices(g):
    if g.geom_type.startswith("Multi") or g.geom_type == "GeometryCollection":
        for part in g.geoms:
            yield from vertices(part)
    elif g.geom_type == "Polygon":
        yield from g.exterior.coords
        for r in g.interiors:
            yield from r.coords
    else:
        yield from g.coords

rng = random.Random(seed)
all_feats = [(n, fid, g) for n, fs in feats.items() for fid, g in fs]
summary = {"tiles": 0, "nonempty": 0, "features": 0, "specks": 0, "worst_vertex_units": 0.0,
           "worst_original_units": 0.0, "problems": []}
problem = summary["problems"].append
for _ in range(count):
    z = rng.randint(10, 16)
    # A tile around a random vertex of a random feature, so most are not empty.
    _, _, g = rng.choice(all_feats)
    X, Y = rng.choice(list(vertices(g)))[:2]
    size = 2 * ORIGIN / 2 ** z
    x, y = int((X + ORIGIN) // size), int((ORIGIN - Y) // size)
    to_units = tile_units(z, x, y)
    summary["tiles"] += 1
    for name, fs in feats.items():
        status, body = fetch(f"{base}/api/collections/{name}/tiles/WebMercatorQuad/{z}/{y}/{x}")
        if status not in (200, 204):
            problem(f"{name} {z}/{y}/{x}: HTTP {status}")
            continue
        got = {}
        if status == 200:
            tile = mapbox_vector_tile.decode(body, default_options={"y_coord_down": True})
            if name in tile:
                got = decoded_geoms(tile[name])
                summary["nonempty"] += 1
        inner = box(-BUFFER + 1, -BUFFER + 1, EXTENT + BUFFER - 1, EXTENT + BUFFER - 1)
        outer = box(-BUFFER - 1, -BUFFER - 1, EXTENT + BUFFER + 1, EXTENT + BUFFER + 1)
        for fid, merc in fs:
            g = transform(to_units, merc)
            w = g.bounds[2] - g.bounds[0]
            h = g.bounds[3] - g.bounds[1]
            speck = g.geom_type not in ("Point", "MultiPoint") and w < SPECK and h < SPECK
            must = g.intersects(inner) and not speck
            may = g.intersects(outer) and not speck
            if must and fid not in got:
                problem(f"{name} {z}/{y}/{x}: {fid} meets the tile but is missing")
            if fid in got and not may:
                problem(f"{name} {z}/{y}/{x}: {fid} is in the tile but should not be (speck={speck})")
            if speck and g.intersects(outer):
                summary["specks"] += 1
            if fid not in got:
                continue
            summary["features"] += 1
            d = got[fid]
            # Vertices inside the tile proper; in the buffer, clipping a
            # concave polygon leaves zero-width seams along the clip square
            # (Sutherland-Hodgman), which draw nothing.
            inside = [v for v in vertices(d) if 0 <= v[0] <= EXTENT and 0 <= v[1] <= EXTENT]
            worst = max((Point(v[:2]).distance(g) for v in inside), default=0.0)
            summary["worst_vertex_units"] = max(summary["worst_vertex_units"], worst)
            if worst > 1.0:
                problem(f"{name} {z}/{y}/{x}: {fid} has a vertex {worst:.2f} units off the original")
            tile_box = box(0, 0, EXTENT, EXTENT)
            far = 0.0
            for v in vertices(g):
                p = Point(v[:2])
                if tile_box.contains(p):
                    far = max(far, p.distance(d.boundary if d.geom_type.endswith("Polygon") and g.geom_type.endswith("Polygon") else d))
            summary["worst_original_units"] = max(summary["worst_original_units"], far)
            if far > EXTENT / 256:
                problem(f"{name} {z}/{y}/{x}: {fid} has an original vertex {far:.2f} units from the drawn one")
        known = {fid for fid, _ in fs}
        for fid in got:
            if fid not in known:
                problem(f"{name} {z}/{y}/{x}: unknown id {fid}")
summary["problems"] = summary["problems"][:20]
print(json.dumps(summary))
