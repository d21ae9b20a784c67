"""Independent check of CQL2 filtering on /items.

Usage: cql2_oracle.py BASE_URL DATA_DIR

Each case is a CQL2-Text expression, the same in CQL2-JSON (written by
hand), and a Python predicate over the GeoJSON files' properties and shapely
geometries: the ids the server returns for both forms must equal the ids
the predicate selects. Rules the predicates follow (the standard's, and the
issue's): a feature lacking a property does not match a comparison on it,
not even under NOT; numbers compare as numbers. Distances (S_DWITHIN, an
extension, metres) are measured by shapely in UTM zone 49N (pyproj);
features within 0.5 % of the threshold may go either way.

Then malformed filters: each must be a 400 whose description says where
the problem is.

Prints a JSON summary: cases, rows compared, problems.
"""
import json
import sys
import urllib.error
import urllib.parse
import urllib.request

from pyproj import Transformer
from shapely.geometry import shape, box, Point, LineString, Polygon
from shapely.ops import transform

base, data_dir = sys.argv[1], sys.argv[2]
utm = Transformer.from_crs("EPSG:4326", "EPSG:32649", always_xy=True).transform

data = {}
for name in ["roads", "pipelines", "power_lines", "substations", "sites", "parks", "zone"]:
    with open(f"{data_dir}/{name}.geojson", encoding="utf-8") as fh:
        data[name] = [(str(f["id"]), f["properties"], shape(f["geometry"])) for f in json.load(fh)["features"]]

MISSING = object()

def has(p, k):
    return p.get(k) is not None

def cmp(p, k, op, v):
    """A comparison under the rule: missing -> no match (None = unknown)."""
    if not has(p, k):
        return None
    x = p[k]
    if isinstance(v, (int, float)) and isinstance(x, str):
        try:
            x = float(x)
        except ValueError:
            return None
    return {"=": x == v, "<>": x != v, "<": x < v, "<=": x <= v, ">": x > v, ">=": x >= v}[op]

def AND(*xs):
    if any(x is False for x in xs):
        return False
    return None if any(x is None for x in xs) else True

def OR(*xs):
    if any(x is True for x in xs):
        return True
    return None if any(x is None for x in xs) else False

def NOT(x):
    return None if x is None else not x

def like(p, k, pattern, casei=False):
    if not has(p, k):
        return None
    import re
    rx = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.fullmatch(rx, p[k].lower() if casei else p[k], re.S) is not None

def dwithin(g, lit, metres):
    d = transform(utm, g).distance(transform(utm, lit))
    if abs(d - metres) <= 0.005 * metres:
        return "either"
    return d <= metres

# Literals from the data, so the spatial cases are not empty by luck.
zone = next(g for i, p, g in data["zone"] if p.get("kind") == "zone")
zx0, zy0, zx1, zy1 = zone.bounds
cx, cy = (zx0 + zx1) / 2, (zy0 + zy1) / 2
west = (zx0, zy0, cx, cy)
site = data["sites"][0][2].representative_point()
sub = data["substations"][0][2]
half = Polygon([(zx0, zy0), (cx, zy0), (cx, zy1), (zx0, zy1), (zx0, zy0)])
wkt_half = f"POLYGON(({zx0} {zy0}, {cx} {zy0}, {cx} {zy1}, {zx0} {zy1}, {zx0} {zy0}))"
json_half = {"type": "Polygon", "coordinates": [[[zx0, zy0], [cx, zy0], [cx, zy1], [zx0, zy1], [zx0, zy0]]]}
ns = LineString([(cx, zy0 - 0.01), (cx + 0.001, zy1 + 0.01)])
P = lambda k: {"property": k}
G = P("geometry")
BB = lambda b: {"bbox": list(b)}

cases = [
    ("roads", "status = 'planned'", {"op": "=", "args": [P("status"), "planned"]}, lambda p, g: cmp(p, "status", "=", "planned")),
    ("roads", "status <> 'existing'", {"op": "<>", "args": [P("status"), "existing"]}, lambda p, g: cmp(p, "status", "<>", "existing")),
    ("roads", "width_m > 30", {"op": ">", "args": [P("width_m"), 30]}, lambda p, g: cmp(p, "width_m", ">", 30)),
    ("roads", "width_m >= 30", {"op": ">=", "args": [P("width_m"), 30]}, lambda p, g: cmp(p, "width_m", ">=", 30)),
    ("roads", "width_m < 16", {"op": "<", "args": [P("width_m"), 16]}, lambda p, g: cmp(p, "width_m", "<", 16)),
    ("roads", "width_m <= 16", {"op": "<=", "args": [P("width_m"), 16]}, lambda p, g: cmp(p, "width_m", "<=", 16)),
    ("roads", "width_m = 24.0", {"op": "=", "args": [P("width_m"), 24.0]}, lambda p, g: cmp(p, "width_m", "=", 24)),
    ("roads", "status = 'planned' AND width_m > 30", {"op": "and", "args": [{"op": "=", "args": [P("status"), "planned"]}, {"op": ">", "args": [P("width_m"), 30]}]},
     lambda p, g: AND(cmp(p, "status", "=", "planned"), cmp(p, "width_m", ">", 30))),
    ("roads", "class = 'trunk' OR width_m < 16", {"op": "or", "args": [{"op": "=", "args": [P("class"), "trunk"]}, {"op": "<", "args": [P("width_m"), 16]}]},
     lambda p, g: OR(cmp(p, "class", "=", "trunk"), cmp(p, "width_m", "<", 16))),
    ("roads", "NOT (class = 'branch')", {"op": "not", "args": [{"op": "=", "args": [P("class"), "branch"]}]}, lambda p, g: NOT(cmp(p, "class", "=", "branch"))),
    ("roads", "width_m BETWEEN 16 AND 30", {"op": "between", "args": [P("width_m"), 16, 30]}, lambda p, g: AND(cmp(p, "width_m", ">=", 16), cmp(p, "width_m", "<=", 30))),
    ("roads", "width_m NOT BETWEEN 16 AND 30", {"op": "not", "args": [{"op": "between", "args": [P("width_m"), 16, 30]}]},
     lambda p, g: NOT(AND(cmp(p, "width_m", ">=", 16), cmp(p, "width_m", "<=", 30)))),
    ("roads", "class IN ('trunk', 'secondary')", {"op": "in", "args": [P("class"), ["trunk", "secondary"]]}, lambda p, g: OR(cmp(p, "class", "=", "trunk"), cmp(p, "class", "=", "secondary"))),
    ("roads", "class NOT IN ('trunk', 'secondary')", {"op": "not", "args": [{"op": "in", "args": [P("class"), ["trunk", "secondary"]]}]},
     lambda p, g: NOT(OR(cmp(p, "class", "=", "trunk"), cmp(p, "class", "=", "secondary")))),
    ("roads", "name_en LIKE '%Road%'", {"op": "like", "args": [P("name_en"), "%Road%"]}, lambda p, g: like(p, "name_en", "%Road%")),
    ("roads", "name_en NOT LIKE '%Road%'", {"op": "not", "args": [{"op": "like", "args": [P("name_en"), "%Road%"]}]}, lambda p, g: NOT(like(p, "name_en", "%Road%"))),
    ("roads", "CASEI(name_en) LIKE CASEI('%ROAD%')", {"op": "like", "args": [{"op": "casei", "args": [P("name_en")]}, {"op": "casei", "args": ["%ROAD%"]}]},
     lambda p, g: like(p, "name_en", "%road%", casei=True)),
    ("roads", "corridor IS NULL", {"op": "isNull", "args": [P("corridor")]}, lambda p, g: not has(p, "corridor")),
    ("roads", "corridor IS NOT NULL", {"op": "not", "args": [{"op": "isNull", "args": [P("corridor")]}]}, lambda p, g: has(p, "corridor")),
    ("roads", "length_m > 1000 AND status IN ('planned', 'under_construction')",
     {"op": "and", "args": [{"op": ">", "args": [P("length_m"), 1000]}, {"op": "in", "args": [P("status"), ["planned", "under_construction"]]}]},
     lambda p, g: AND(cmp(p, "length_m", ">", 1000), OR(cmp(p, "status", "=", "planned"), cmp(p, "status", "=", "under_construction")))),
    ("pipelines", "utility = 'gas' AND role = 'main'", {"op": "and", "args": [{"op": "=", "args": [P("utility"), "gas"]}, {"op": "=", "args": [P("role"), "main"]}]},
     lambda p, g: AND(cmp(p, "utility", "=", "gas"), cmp(p, "role", "=", "main"))),
    ("pipelines", "diameter_mm >= 500", {"op": ">=", "args": [P("diameter_mm"), 500]}, lambda p, g: cmp(p, "diameter_mm", ">=", 500)),
    ("pipelines", "pressure_class IS NULL", {"op": "isNull", "args": [P("pressure_class")]}, lambda p, g: not has(p, "pressure_class")),
    ("pipelines", "NOT (pressure_class = 'medium')", {"op": "not", "args": [{"op": "=", "args": [P("pressure_class"), "medium"]}]},
     lambda p, g: NOT(cmp(p, "pressure_class", "=", "medium"))),
    ("pipelines", "utility IN ('gas', 'steam') AND diameter_mm < 400",
     {"op": "and", "args": [{"op": "in", "args": [P("utility"), ["gas", "steam"]]}, {"op": "<", "args": [P("diameter_mm"), 400]}]},
     lambda p, g: AND(OR(cmp(p, "utility", "=", "gas"), cmp(p, "utility", "=", "steam")), cmp(p, "diameter_mm", "<", 400))),
    ("pipelines", "(utility = 'water' OR utility = 'steam') AND NOT role = 'distribution'",
     {"op": "and", "args": [{"op": "or", "args": [{"op": "=", "args": [P("utility"), "water"]}, {"op": "=", "args": [P("utility"), "steam"]}]},
                            {"op": "not", "args": [{"op": "=", "args": [P("role"), "distribution"]}]}]},
     lambda p, g: AND(OR(cmp(p, "utility", "=", "water"), cmp(p, "utility", "=", "steam")), NOT(cmp(p, "role", "=", "distribution")))),
    ("pipelines", "name LIKE '%给水%'", {"op": "like", "args": [P("name"), "%给水%"]}, lambda p, g: like(p, "name", "%给水%")),
    ("power_lines", "voltage_kv = 110", {"op": "=", "args": [P("voltage_kv"), 110]}, lambda p, g: cmp(p, "voltage_kv", "=", 110)),
    ("power_lines", "voltage_kv = 110.0", {"op": "=", "args": [P("voltage_kv"), 110.0]}, lambda p, g: cmp(p, "voltage_kv", "=", 110)),
    ("power_lines", "voltage_kv < 110 AND status = 'existing'", {"op": "and", "args": [{"op": "<", "args": [P("voltage_kv"), 110]}, {"op": "=", "args": [P("status"), "existing"]}]},
     lambda p, g: AND(cmp(p, "voltage_kv", "<", 110), cmp(p, "status", "=", "existing"))),
    ("substations", "capacity_mva > 90", {"op": ">", "args": [P("capacity_mva"), 90]}, lambda p, g: cmp(p, "capacity_mva", ">", 90)),
    ("sites", "kind = 'industrial' OR area_m2 > 500000", {"op": "or", "args": [{"op": "=", "args": [P("kind"), "industrial"]}, {"op": ">", "args": [P("area_m2"), 500000]}]},
     lambda p, g: OR(cmp(p, "kind", "=", "industrial"), cmp(p, "area_m2", ">", 500000))),
    ("sites", "area_mu IS NOT NULL", {"op": "not", "args": [{"op": "isNull", "args": [P("area_mu")]}]}, lambda p, g: has(p, "area_mu")),
    ("roads", "S_INTERSECTS(geometry, BBOX({0}, {1}, {2}, {3}))".format(*west), {"op": "s_intersects", "args": [G, BB(west)]}, lambda p, g: g.intersects(box(*west))),
    ("pipelines", f"S_INTERSECTS(geometry, {wkt_half})", {"op": "s_intersects", "args": [G, json_half]}, lambda p, g: g.intersects(half)),
    ("roads", f"S_WITHIN(geometry, {wkt_half})", {"op": "s_within", "args": [G, json_half]}, lambda p, g: g.within(half)),
    ("sites", f"S_CONTAINS(geometry, POINT({site.x} {site.y}))", {"op": "s_contains", "args": [G, {"type": "Point", "coordinates": [site.x, site.y]}]},
     lambda p, g: g.contains(site)),
    ("sites", f"S_INTERSECTS(POINT({site.x} {site.y}), geometry)", {"op": "s_intersects", "args": [{"type": "Point", "coordinates": [site.x, site.y]}, G]},
     lambda p, g: g.intersects(site)),
    ("roads", "S_DISJOINT(geometry, BBOX({0}, {1}, {2}, {3}))".format(*west), {"op": "s_disjoint", "args": [G, BB(west)]}, lambda p, g: g.disjoint(box(*west))),
    ("roads", f"S_CROSSES(geometry, LINESTRING({ns.coords[0][0]} {ns.coords[0][1]}, {ns.coords[1][0]} {ns.coords[1][1]}))",
     {"op": "s_crosses", "args": [G, {"type": "LineString", "coordinates": [list(c) for c in ns.coords]}]}, lambda p, g: g.crosses(ns)),
    ("parks", f"S_OVERLAPS(geometry, {wkt_half})", {"op": "s_overlaps", "args": [G, json_half]}, lambda p, g: g.overlaps(half)),
    ("substations", f"S_EQUALS(geometry, POINT({sub.x} {sub.y}))", {"op": "s_equals", "args": [G, {"type": "Point", "coordinates": [sub.x, sub.y]}]},
     lambda p, g: g.equals(sub)),
    ("substations", f"S_DWITHIN(geometry, POINT({cx} {cy}), 1500)", {"op": "s_dwithin", "args": [G, {"type": "Point", "coordinates": [cx, cy]}, 1500]},
     lambda p, g: dwithin(g, Point(cx, cy), 1500)),
    ("roads", f"S_DWITHIN(geometry, POINT({cx} {cy}), 500) AND status = 'existing'",
     {"op": "and", "args": [{"op": "s_dwithin", "args": [G, {"type": "Point", "coordinates": [cx, cy]}, 500]}, {"op": "=", "args": [P("status"), "existing"]}]},
     lambda p, g: "either" if dwithin(g, Point(cx, cy), 500) == "either" and cmp(p, "status", "=", "existing") else AND(dwithin(g, Point(cx, cy), 500), cmp(p, "status", "=", "existing"))),
    ("sites", f"DWITHIN(geometry, LINESTRING({ns.coords[0][0]} {ns.coords[0][1]}, {ns.coords[1][0]} {ns.coords[1][1]}), 300)",
     {"op": "s_dwithin", "args": [G, {"type": "LineString", "coordinates": [list(c) for c in ns.coords]}, 300]}, lambda p, g: dwithin(g, ns, 300)),
    ("roads", "NOT S_INTERSECTS(geometry, BBOX({0}, {1}, {2}, {3})) AND width_m > 20".format(*west),
     {"op": "and", "args": [{"op": "not", "args": [{"op": "s_intersects", "args": [G, BB(west)]}]}, {"op": ">", "args": [P("width_m"), 20]}]},
     lambda p, g: AND(not g.intersects(box(*west)), cmp(p, "width_m", ">", 20))),
    ("zone", "kind = 'sub_area' OR S_CONTAINS(geometry, POINT({0} {1}))".format(cx, cy),
     {"op": "or", "args": [{"op": "=", "args": [P("kind"), "sub_area"]}, {"op": "s_contains", "args": [G, {"type": "Point", "coordinates": [cx, cy]}]}]},
     lambda p, g: OR(cmp(p, "kind", "=", "sub_area"), g.contains(Point(cx, cy)))),
]

def get(url):
    try:
        with urllib.request.urlopen(url, timeout=60) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"{}")

def items(collection, params):
    q = urllib.parse.urlencode({**params, "limit": 10000})
    return get(f"{base}/api/collections/{collection}/items?{q}")

summary = {"cases": 0, "rows": 0, "matched": 0, "problems": []}
problem = summary["problems"].append
for collection, text, js, pred in cases:
    want, either = set(), set()
    for fid, p, g in data[collection]:
        r = pred(p, g)
        if r == "either":
            either.add(fid)
        elif r is True:
            want.add(fid)
        summary["rows"] += 1
    forms = [("text", {"filter": text}), ("json", {"filter": json.dumps(js), "filter-lang": "cql2-json"})]
    if "BBOX(" in text and "NOT" not in text and "DISJOINT" not in text:
        # The same box in EPSG:4326, latitude first.
        b = west
        forms.append(("4326", {"filter": "S_INTERSECTS(geometry, BBOX({1}, {0}, {3}, {2}))".format(*b),
                               "filter-crs": "http://www.opengis.net/def/crs/EPSG/0/4326"}))
    for form, params in forms:
        status, body = items(collection, params)
        if status != 200:
            problem(f"{collection} [{form}] {params['filter']}: HTTP {status} {body.get('description')}")
            continue
        got = {str(f["id"]) for f in body["features"]}
        if got - either != want - either:
            problem(f"{collection} [{form}] {text}: server {sorted(got - either)} oracle {sorted(want - either)}")
    summary["cases"] += 1
    summary["matched"] += len(want)

bad = [
    ("roads", {"filter": "status = 'planned"}, "at character 10"),
    ("roads", {"filter": "status = = 'x'"}, "at character 10"),
    ("roads", {"filter": "widht_m > 3"}, "at character 1"),
    ("roads", {"filter": "width_m > 'wide'"}, "at character 11"),
    ("roads", {"filter": "status > 3"}, "at character 10"),
    ("roads", {"filter": "S_BUFFER(geometry, 3)"}, "at character 1"),
    ("roads", {"filter": "status LIKE 5"}, "at character 13"),
    ("roads", {"filter": "width_m BETWEEN 1"}, "at character 18"),
    ("roads", {"filter": "S_DWITHIN(geometry, POINT(113.5 34.7))"}, "at character"),
    ("roads", {"filter": "S_INTERSECTS(geometry, POLYGON((0 0, 1 0, 1 1)))"}, "at character"),
    ("roads", {"filter": json.dumps({"op": "foo", "args": []}), "filter-lang": "cql2-json"}, "at /op"),
    ("roads", {"filter": json.dumps({"op": "=", "args": [P("status")]}), "filter-lang": "cql2-json"}, "at /args"),
    ("roads", {"filter": json.dumps({"op": "and", "args": [{"op": "=", "args": [P("nope"), 1]}, True]}), "filter-lang": "cql2-json"}, "at /args/0/args/0"),
    ("roads", {"filter": '{"op":', "filter-lang": "cql2-json"}, "not JSON"),
    ("roads", {"filter": "status = 'x'", "filter-lang": "cql3"}, "filter-lang"),
]
for collection, params, where in bad:
    status, body = items(collection, params)
    d = body.get("description", "")
    if status != 400 or where not in d:
        problem(f"bad filter {params}: HTTP {status} {d!r}, wanted 400 naming {where!r}")
    summary["cases"] += 1
print(json.dumps(summary, ensure_ascii=False))
