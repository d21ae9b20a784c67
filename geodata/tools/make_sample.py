#!/usr/bin/env python3
"""Writes the bundled sample data folder (geodata/*.geojson).

The layout is illustrative: drawn in a local metric grid around Mazhai town
(origin 113.49 E, 34.665 N, x east, y north, metres) so that it reproduces the
figures of the source article (road counts and lengths per status, the Smart
Port's 164 mu, gas everywhere, power missing in the Fenghu area until the
Jiangang substation runs, steam at every industrial site, a dual water feed),
anchored on approximate real positions of the named places (geocoded addresses,
listed in geodata/README.md).

Re-run with `python3 geodata/tools/make_sample.py` from the repository root;
it needs shapely (`pip install shapely`, only to cut the reservoir out of the
zone) and prints what it checked.
Three roads (one per status) end in a free spur whose length is solved so
that each status's total geodesic length matches the article exactly.
"""

import json
import math
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.dirname(HERE)
# The OSM outline of the Jiangang Reservoir (ODbL, see geodata/README.md),
# kept beside this script so the sample regenerates from the repository alone.
RESERVOIR = os.path.join(HERE, "jiangang_reservoir_osm_r10268686.geojson")

# --- local metric grid --------------------------------------------------------
LON0, LAT0 = 113.49, 34.665
A, F = 6378137.0, 1 / 298.257223563
E2 = F * (2 - F)


def k_at(lat):
    s = math.sin(math.radians(lat))
    w2 = 1 / (1 - E2 * s * s)
    w = math.sqrt(w2)
    kx = A * w * math.cos(math.radians(lat)) * math.pi / 180
    ky = A * w * w2 * (1 - E2) * math.pi / 180
    return kx, ky


KX, KY = k_at(34.6925)


def ll(p):
    x, y = p
    return [round(LON0 + x / KX, 7), round(LAT0 + y / KY, 7)]


def xy(c):
    return (c[0] - LON0) * KX, (c[1] - LAT0) * KY


def geo_len(coords):
    """Mid-latitude ellipsoidal ruler: within 1e-5 of Karney at this scale."""
    total = 0.0
    for a, b in zip(coords, coords[1:]):
        kx, ky = k_at((a[1] + b[1]) / 2)
        total += math.hypot((b[0] - a[0]) * kx, (b[1] - a[1]) * ky)
    return total


def seg_dist(p, a, b):
    dx, dy = b[0] - a[0], b[1] - a[1]
    l2 = dx * dx + dy * dy
    t = 0 if l2 == 0 else max(0, min(1, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / l2))
    return math.hypot(a[0] + t * dx - p[0], a[1] + t * dy - p[1])


def line_dist(p, pts):
    return min(seg_dist(p, a, b) for a, b in zip(pts, pts[1:]))


def in_ring(p, ring):
    x, y = p
    inside = False
    for (x1, y1), (x2, y2) in zip(ring, ring[1:] + ring[:1]):
        if (y1 > y) != (y2 > y) and x < x1 + (y - y1) * (x2 - x1) / (y2 - y1):
            inside = not inside
    return inside


# --- zone and sub-area ----------------------------------------------------------
ZONE = [(600, 320), (7400, 320), (8050, 900), (8050, 5950), (3900, 5950), (3600, 6050),
        (2300, 6050), (2000, 5950), (850, 5950), (600, 5700)]
FENGHU = [(5500, 320), (7400, 320), (8050, 900), (8050, 5950), (5500, 5950)]

# --- roads ------------------------------------------------------------------------
# (name, name_en, status, class, width_m, points); ids are assigned in order.
E, U, P = "existing", "under_construction", "planned"
ROADS = [
    # Main area trunk skeleton, 6 north-south ...
    ("学院路", "Xueyuan (College) Rd", E, "trunk", 40, [(1000, 800), (1000, 5590)]),
    ("工业路", "Gongye Rd", E, "trunk", 40, [(2025, 800), (2025, 5590)]),
    ("曙光路", "Shuguang Rd", E, "trunk", 30, [(2790, 4070), (2790, 5590)]),
    ("曙光路南延", "Shuguang Rd south extension", P, "trunk", 30, [(2790, 3100), (2790, 4070)]),
    ("东方路", "Dongfang Rd", E, "trunk", 40, [(3200, 3100), (3200, 5590)]),
    ("东方路南段", "Dongfang Rd south section", U, "trunk", 40, [(3200, 800), (3200, 3100)]),
    ("椰风路", "Yefeng Rd", E, "trunk", 40, [(4200, 2300), (4200, 5590)]),
    ("椰风路南段", "Yefeng Rd south section", U, "trunk", 40, [(4200, 800), (4200, 2300)]),
    ("景中路", "Jingzhong Rd", E, "trunk", 40, [(5050, 3100), (5050, 5590)]),
    ("景中路南段", "Jingzhong Rd south section", U, "trunk", 40, [(5050, 2300), (5050, 3100)]),
    # ... and 5 east-west.
    ("明晖路", "Minghui Rd", E, "trunk", 40, [(1000, 5590), (5050, 5590)]),
    ("光明路", "Guangming Rd", E, "trunk", 40, [(1000, 4070), (5050, 4070)]),
    ("公明路", "Gongming Rd", E, "trunk", 40, [(1000, 3100), (5050, 3100)]),
    ("萍湖路", "Pinghu Rd", E, "trunk", 40, [(2025, 2300), (5450, 2300)]),
    ("萍湖路西段", "Pinghu Rd west section", U, "trunk", 40, [(1000, 2300), (2025, 2300)]),
    ("南湖路", "Nanhu Rd", U, "trunk", 40, [(1000, 800), (4200, 800)]),
    # Lakeside roads by Jingzhong Rd.
    ("景西一路", "Jingxi 1st Rd", U, "secondary", 24, [(4650, 2300), (4650, 3100)]),
    ("景东路", "Jingdong Rd", U, "secondary", 24, [(5450, 2300), (5450, 3100)]),
    # Mazhai town streets.
    ("同兴街", "Tongxing St", E, "secondary", 24, [(2025, 4780), (4200, 4780)]),
    ("科技东路", "Keji East Rd", E, "secondary", 24, [(2025, 5230), (3200, 5230)]),
    ("温馨街", "Wenxin St", E, "branch", 16, [(2790, 4590), (3200, 4590)]),
    ("温馨街东延", "Wenxin St east extension", P, "branch", 16, [(3200, 4590), (4200, 4590)]),
    ("团结路", "Tuanjie Rd", E, "branch", 16, [(3000, 4070), (3000, 4780)]),
    ("马寨一街", "Mazhai 1st St", E, "branch", 12, [(2790, 5400), (3200, 5400)]),
    ("马寨二街", "Mazhai 2nd St", E, "branch", 12, [(2790, 5000), (3200, 5000)]),
    ("兴业路", "Xingye Rd", E, "branch", 16, [(2400, 4070), (2400, 4780)]),
    ("兴业路北段", "Xingye Rd north section", E, "branch", 16, [(2400, 4780), (2400, 5230)]),
    ("创新路", "Chuangxin Rd", E, "branch", 16, [(3600, 4070), (3600, 4780)]),
    ("创业路", "Chuangye Rd", E, "branch", 16, [(3900, 4070), (3900, 4780)]),
    ("和谐街", "Hexie St", E, "branch", 12, [(2790, 4300), (3000, 4300)]),
    ("和谐街东段", "Hexie St east section", E, "branch", 12, [(3000, 4300), (3200, 4300)]),
    ("富民街", "Fumin St", E, "branch", 12, [(2790, 4450), (3000, 4450)]),
    ("富民街东段", "Fumin St east section", E, "branch", 12, [(3000, 4450), (3200, 4450)]),
    ("程炉路", "Chenglu Rd", P, "secondary", 24, [(1000, 3660), (2025, 3660)]),
    # South-west logistics area.
    ("物流一路", "Wuliu 1st Rd", U, "secondary", 24, [(1500, 800), (1500, 2300)]),
    ("物流二路", "Wuliu 2nd Rd", U, "secondary", 24, [(2025, 1550), (3200, 1550)]),
    ("物流三路", "Wuliu 3rd Rd", P, "secondary", 24, [(3700, 800), (3700, 2300)]),
    ("港湾路", "Ganwan Rd", P, "secondary", 24, [(1000, 1550), (2025, 1550)]),
    ("港湾路东段", "Ganwan Rd east section", P, "secondary", 24, [(3200, 1550), (4200, 1550)]),
]
# Fenghu Smart New Area: 4 north-south + 2 east-west, built in sections.
for name, name_en, y in [("凤湖路", "Fenghu Rd", 3500), ("凤鸣路", "Fengming Rd", 4800)]:
    xs = [5050, 5900, 6500, 7100, 7700]
    for i, (x1, x2) in enumerate(zip(xs, xs[1:])):
        ROADS.append((f"{name}{'一二三四'[i]}段", f"{name_en} section {i + 1}", U, "trunk", 40,
                      [(x1, y), (x2, y)]))
for x, name, name_en in [(5900, "凤栖路", "Fengqi Rd"), (6500, "凤翔路", "Fengxiang Rd"),
                         (7100, "凤仪路", "Fengyi Rd"), (7700, "尖岗路", "Jiangang Rd")]:
    ROADS.append((name, name_en, U, "trunk", 40, [(x, 3500), (x, 4800)]))
    ROADS.append((f"{name}北段", f"{name_en} north section", P, "trunk", 40, [(x, 4800), (x, 5590)]))
xs = [5050, 5900, 6500, 7100, 7700]
for i, (x1, x2) in enumerate(zip(xs, xs[1:])):
    ROADS.append((f"明晖路东延{'一二三四'[i]}段", f"Minghui Rd east extension section {i + 1}", P,
                  "trunk", 40, [(x1, 5590), (x2, 5590)]))

# Calibration spurs: start at a junction, run one way; length solved below.
SPURS = {
    E: ("公明路支路", "Gongming Rd spur", "branch", 12, (1750, 3100), (0, -1)),
    U: ("凤栖路南段", "Fengqi Rd south section", "trunk", 40, (5900, 3500), (0, -1)),
    P: ("南湖路东延", "Nanhu Rd east extension", "trunk", 40, (4200, 800), (1, 0)),
}
TARGET = {E: (25, 44_000.0), U: (22, 23_870.0), P: (15, 15_000.0)}

for status, (name, name_en, cls, width, start, (dx, dy)) in SPURS.items():
    fixed = sum(geo_len([ll(p) for p in r[5]]) for r in ROADS if r[2] == status)
    # Solve the spur length L by bisection on its true geodesic length.
    need = TARGET[status][1] - fixed
    lo, hi = 0.0, need * 1.1
    for _ in range(60):
        mid = (lo + hi) / 2
        end = (start[0] + dx * mid, start[1] + dy * mid)
        if geo_len([ll(start), ll(end)]) < need:
            lo = mid
        else:
            hi = mid
    end = (round(start[0] + dx * lo, 2), round(start[1] + dy * lo, 2))
    ROADS.append((name, name_en, status, cls, width, [start, end]))
    print(f"spur {name_en}: {lo:.1f} m")

# --- helpers to split lines at every junction with a set of lines ---------------


def crossings(a1, a2, b1, b2):
    """Intersection point of two segments, or None (collinear overlaps ignored)."""
    d = (a2[0] - a1[0]) * (b2[1] - b1[1]) - (a2[1] - a1[1]) * (b2[0] - b1[0])
    if abs(d) < 1e-9:
        return None
    t = ((b1[0] - a1[0]) * (b2[1] - b1[1]) - (b1[1] - a1[1]) * (b2[0] - b1[0])) / d
    u = ((b1[0] - a1[0]) * (a2[1] - a1[1]) - (b1[1] - a1[1]) * (a2[0] - a1[0])) / d
    if -1e-9 <= t <= 1 + 1e-9 and -1e-9 <= u <= 1 + 1e-9:
        return (a1[0] + t * (a2[0] - a1[0]), a1[1] + t * (a2[1] - a1[1]))
    return None


def with_junctions(pts, others):
    """pts with a vertex added wherever another line crosses or touches it."""
    out = [pts[0]]
    for a, b in zip(pts, pts[1:]):
        extra = []
        for o in others:
            for c, d in zip(o, o[1:]):
                p = crossings(a, b, c, d)
                if p:
                    extra.append(p)
        extra.sort(key=lambda p: math.hypot(p[0] - a[0], p[1] - a[1]))
        for p in extra + [b]:
            p = (round(p[0], 3), round(p[1], 3))
            if math.hypot(p[0] - out[-1][0], p[1] - out[-1][1]) > 0.5:
                out.append(p)
    return out


def pieces(pts):
    """Split a polyline at every vertex into two-point pieces."""
    return [[a, b] for a, b in zip(pts, pts[1:])]


def shift(pts, off):
    return [(x + off[0], y + off[1]) for x, y in pts]


# --- features ------------------------------------------------------------------
features = {k: [] for k in ["water", "zone", "roads", "pipelines", "power_lines", "substations", "parks", "sites"]}


def add(layer, fid, geom_type, coords, props):
    features[layer].append({"type": "Feature", "id": fid,
                            "geometry": {"type": geom_type, "coordinates": coords},
                            "properties": props})


def poly(pts):
    ring = [ll(p) for p in pts] + [ll(pts[0])]
    return [ring]


from shapely.geometry import Polygon as SPoly, shape  # noqa: E402

with open(RESERVOIR, encoding="utf-8") as fh:
    lake_feature = json.load(fh)["features"][0]
LAKE = [xy(c) for c in lake_feature["geometry"]["coordinates"][0][:-1]]


def minus_lake(pts):
    """(GeoJSON type, coordinates) of the polygon with the reservoir cut out."""
    g = SPoly(pts).difference(SPoly(LAKE)).simplify(0.01)

    def rings(p):
        out = []
        for r in [p.exterior] + list(p.interiors):
            ring = [ll(c) for c in list(r.coords)[:-1]]
            out.append(ring + [ring[0]])
        return out

    # RFC 7946: exterior rings counter-clockwise, holes clockwise.
    from shapely.geometry.polygon import orient
    g = orient(g, 1.0) if g.geom_type == "Polygon" else type(g)([orient(p, 1.0) for p in g.geoms])
    if g.geom_type == "Polygon":
        return "Polygon", rings(g)
    return "MultiPolygon", [rings(p) for p in g.geoms]


def in_lake(p):
    return in_ring(p, LAKE)


add("zone", "Z-ERQI", *minus_lake(ZONE), {
    "name": "二七经济技术开发区", "name_en": "Erqi Economic and Technological Development Zone",
    "kind": "zone", "source": "illustrative",
    "note": "outline drawn for this sample around Mazhai town, not the legal boundary; "
            "the Jiangang reservoir (OSM, ODbL) is cut out"})
add("zone", "Z-FENGHU", *minus_lake(FENGHU), {
    "name": "凤湖智慧新区", "name_en": "Fenghu Smart New Area", "kind": "sub_area",
    "source": "illustrative", "note": "around the Jiangang reservoir (read as the Fenghu lake)"})

lake_props = dict(lake_feature["properties"])
add("water", "OSM-R10268686", "Polygon", lake_feature["geometry"]["coordinates"], {
    "name": lake_props["name"], "name_en": lake_props["name_en"] + " (Fenghu lake)",
    "kind": "reservoir", "osm_id": "relation/10268686", "source": "osm",
    "licence": "ODbL-1.0, (c) OpenStreetMap contributors",
    "note": lake_props["simplification"]})

road_lines = [r[5] for r in ROADS]
for i, (name, name_en, status, cls, width, pts) in enumerate(ROADS, 1):
    full = with_junctions(pts, [o for o in road_lines if o is not pts])
    anchored = name in ("东方路", "曙光路", "温馨街", "萍湖路", "景中路", "程炉路", "明晖路", "工业路", "学院路")
    props = {"name": name, "name_en": name_en, "status": status, "class": cls, "width_m": width,
             "length_m": round(geo_len([ll(p) for p in full]), 1),
             "source": "approximate" if anchored else "illustrative"}
    if cls == "trunk":
        # The trunk road this section belongs to: "六纵五横" counts corridors.
        props["corridor"] = name[:3] if name.startswith(("明晖路", "萍湖路", "南湖路", "东方路", "椰风路",
                                                         "景中路", "曙光路", "凤湖路", "凤鸣路", "凤栖路",
                                                         "凤翔路", "凤仪路", "尖岗路")) else name
    add("roads", f"R-{i:03d}", "LineString", [ll(p) for p in full], props)

# --- pipelines: along road corridors, offset so they read as separate lines ----
OFFSET = {"water": (12, 12), "gas": (-12, -12), "steam": (20, -20)}
WATER_ROUTES = [  # (points, status)
    ([(1000, 800), (1000, 5590)], E), ([(2025, 800), (2025, 5590)], E),
    ([(3200, 800), (3200, 5590)], E), ([(4200, 800), (4200, 5590)], E),
    ([(5050, 2300), (5050, 5590)], E),
    ([(1000, 5590), (5050, 5590)], E), ([(1000, 4070), (5050, 4070)], E),
    ([(1000, 3100), (5050, 3100)], E), ([(1000, 2300), (5050, 2300)], E),
    ([(1000, 800), (4200, 800)], E),
    ([(2025, 4780), (4200, 4780)], E),
    # Fenghu: laid ahead of its roads, so new plots have water from day one.
    ([(5050, 3500), (7700, 3500)], E), ([(5050, 4800), (7700, 4800)], E),
    ([(5900, 3500), (5900, 4800)], E), ([(7700, 3500), (7700, 4800)], E),
]
WATER_FEEDS = [  # the two independent sources
    ("north", "北部水源(柿园水厂方向)", "North feed (city water company, northern main)",
     [(2025, 5940), (2025, 5590)]),
    ("south", "南部水源(尖岗水厂方向)", "South feed (city water company, southern main)",
     [(3200, 400), (3200, 800)]),
]
GAS_ROUTES = [
    ([(1000, 800), (1000, 5590)], E), ([(2025, 800), (2025, 5590)], E),
    ([(3200, 800), (3200, 5590)], E), ([(4200, 800), (4200, 5590)], E),
    ([(5050, 2300), (5050, 5590)], E), ([(1000, 5590), (5050, 5590)], E),
    ([(1000, 4070), (5050, 4070)], E), ([(1000, 3100), (5050, 3100)], E),
    ([(1000, 2300), (5450, 2300)], E), ([(2025, 4780), (4200, 4780)], E),
    ([(1000, 1550), (4200, 1550)], E),
    # Fenghu: medium-pressure mains laid ahead of the roads, so gas is
    # already available zone-wide (the article's claim).
    ([(5050, 3500), (7700, 3500)], E), ([(5050, 4800), (7700, 4800)], E),
    ([(5050, 5590), (7700, 5590)], E),
    ([(5900, 3230), (5900, 5590)], E), ([(6500, 3500), (6500, 5590)], E),
    ([(7100, 3500), (7100, 5590)], E), ([(7700, 3500), (7700, 5590)], E),
    ([(5050, 2300), (5450, 2300), (5450, 3100)], E), ([(4200, 800), (6870, 800)], E),
    ([(1000, 4780), (2025, 4780)], E),
]
GAS_HP = [(1000, 800), (6870, 800)]  # the "fourth ring" high-pressure main
STEAM_ROUTES = [
    ([(1000, 3100), (5050, 3100)], E), ([(1000, 2300), (4200, 2300)], E),
    ([(1000, 800), (1000, 4070)], E), ([(1000, 4070), (2025, 4070)], E),
    ([(3200, 3100), (3200, 3660)], E), ([(4200, 2300), (4200, 3100)], E),
    ([(1500, 800), (1500, 2300)], E),
]
STEAM_SOURCE = [(1000, 400), (1000, 800)]


def add_network(layer, prefix, routes, props_for, offset, split_with):
    n = 0
    for pts, status in routes:
        full = with_junctions(pts, split_with)
        for piece in pieces(full):
            n += 1
            add(layer, f"{prefix}-{n:03d}", "LineString", [ll(p) for p in shift(piece, offset)],
                props_for(status, n))
    return n


water_lines = [r for r, _ in WATER_ROUTES] + [f[3] for f in WATER_FEEDS]
for tag, name, name_en, pts in WATER_FEEDS:
    add("pipelines", f"W-FEED-{tag.upper()}", "LineString", [ll(p) for p in shift(pts, OFFSET["water"])], {
        "name": name, "name_en": name_en, "utility": "water", "status": E, "role": "feed",
        "feed": tag, "operator": "郑州水务 Zhengzhou Water", "diameter_mm": 800,
        "source": "illustrative"})
add_network("pipelines", "W", WATER_ROUTES, lambda s, n: {
    "name": f"给水干管{n}", "name_en": f"Water main {n}", "utility": "water", "status": s,
    "role": "main", "operator": "郑州水务 Zhengzhou Water", "diameter_mm": 600 if n % 3 else 400,
    "source": "illustrative"}, OFFSET["water"], water_lines)



def fill_gas_gaps():
    """Add short branch mains until every land point of the zone is within
    480 m of an existing gas main: each branch runs from the nearest main to
    a point inside the largest uncovered patch, never across the lake. Works
    on the pipes as drawn (shifted off the road centre line)."""
    from shapely.affinity import translate
    from shapely.geometry import LineString as SLine
    from shapely.ops import nearest_points, unary_union
    ox, oy = OFFSET["gas"]
    land = SPoly(ZONE).difference(SPoly(LAKE))
    inner = land.buffer(-15)
    lake = SPoly(LAKE)
    for _ in range(30):
        drawn = [SLine(pts) for pts, _ in GAS_ROUTES] + [SLine(GAS_HP)]
        mains = translate(unary_union(drawn), ox, oy)
        gap = land.difference(mains.buffer(480))
        if gap.area < 1:
            return
        parts = sorted(getattr(gap, "geoms", [gap]), key=lambda g: -g.area)
        core = parts[0].intersection(inner).buffer(-20)
        if core.is_empty:
            core = parts[0].intersection(inner)
        target = core.representative_point()
        candidates = sorted(getattr(mains, "geoms", [mains]), key=lambda g: g.distance(target))
        for cand in candidates:
            q = nearest_points(cand, target)[0]
            branch = SLine([(q.x, q.y), (target.x, target.y)])
            if not branch.intersects(lake):
                break
        else:
            raise SystemExit(f"cannot reach gas gap at {target}")
        GAS_ROUTES.append(([(round(q.x - ox, 1), round(q.y - oy, 1)),
                            (round(target.x - ox, 1), round(target.y - oy, 1))], E))


fill_gas_gaps()
gas_lines = [r for r, _ in GAS_ROUTES] + [GAS_HP]
add("pipelines", "G-HP-4RING", "LineString", [ll(p) for p in shift(with_junctions(GAS_HP, gas_lines), OFFSET["gas"])], {
    "name": "燃气四环主高压管(二七段)", "name_en": "Fourth-ring high-pressure gas main (Erqi section)",
    "utility": "gas", "status": E, "role": "transmission", "pressure_class": "high",
    "operator": "郑州华润燃气 Zhengzhou China Resources Gas", "diameter_mm": 711,
    "source": "illustrative"})
add_network("pipelines", "G", GAS_ROUTES, lambda s, n: {
    "name": f"中压燃气管{n}", "name_en": f"Medium-pressure gas main {n}", "utility": "gas",
    "status": s, "role": "distribution", "pressure_class": "medium",
    "operator": "郑州华润燃气 Zhengzhou China Resources Gas", "diameter_mm": 300,
    "source": "illustrative"}, OFFSET["gas"], gas_lines)

steam_lines = [r for r, _ in STEAM_ROUTES] + [STEAM_SOURCE]
add("pipelines", "S-SOURCE", "LineString", [ll(p) for p in shift(STEAM_SOURCE, OFFSET["steam"])], {
    "name": "新奥热力供汽主管(热源出口)", "name_en": "ENN steam trunk from the heat source",
    "utility": "steam", "status": E, "role": "feed", "operator": "新奥热力 ENN Heating",
    "diameter_mm": 500, "source": "illustrative"})
add_network("pipelines", "S", STEAM_ROUTES, lambda s, n: {
    "name": f"工业蒸汽管{n}", "name_en": f"Industrial steam main {n}", "utility": "steam",
    "status": s, "role": "main", "operator": "新奥热力 ENN Heating", "diameter_mm": 350,
    "source": "illustrative"}, OFFSET["steam"], steam_lines)

# --- power ----------------------------------------------------------------------
SUBSTATIONS = [
    ("SS-MAZHAI", "马寨110kV变电站", "Mazhai 110 kV substation", E, (3230, 5000), 110, 100, None),
    ("SS-GONGYE", "工业园110kV变电站", "Industrial Park 110 kV substation", E, (3230, 2700), 110, 100, None),
    ("SS-NANHU", "南湖110kV变电站", "Nanhu 110 kV substation", E, (3230, 700), 110, 80, None),
    # Sited ~500 m west of Jiangang village (its real site is not published).
    # A new-district substation: 10 kV supply radius up to 5 km in class C
    # areas (DL/T 5729-2016); 4 km reaches every corner of the Fenghu area.
    ("SS-JIANGANG", "尖岗110kV变电站", "Jiangang 110 kV substation", U, (7300, 3400), 110, 126, 4000),
]
for fid, name, name_en, status, p, kv, mva, radius in SUBSTATIONS:
    props = {"name": name, "name_en": name_en, "status": status, "voltage_kv": kv,
             "capacity_mva": mva, "operator": "国网郑州供电公司 State Grid Zhengzhou",
             "source": "illustrative"}
    if radius:
        props["service_radius_m"] = radius
        props["note"] = "about to go into operation; secures supply to the Fenghu Smart New Area"
    add("substations", fid, "Point", ll(p), props)

POWER_OFF = (-20, 20)
FEEDERS = [  # 10 kV feeders along roads; stubs reach each substation
    ([(3230, 5000), (3230, 4780)], E, 10), ([(2025, 4780), (4200, 4780)], E, 10),
    ([(2025, 800), (2025, 5590)], E, 10), ([(4200, 800), (4200, 5590)], E, 10),
    ([(1000, 3100), (5050, 3100)], E, 10), ([(3230, 2700), (3230, 3100)], E, 10),
    ([(1000, 800), (4200, 800)], E, 10), ([(3230, 700), (3230, 800)], E, 10),
    ([(1000, 800), (1000, 5590)], E, 10), ([(1000, 5590), (5050, 5590)], E, 10),
    ([(5050, 3100), (5050, 5590)], E, 10),
    # Fenghu feeders wait for the Jiangang substation.
    ([(7300, 3400), (7300, 3500)], U, 10), ([(5050, 3500), (7700, 3500)], U, 10),
    ([(5050, 4800), (7700, 4800)], U, 10), ([(6500, 3500), (6500, 4800)], U, 10),
]
HV = [  # 110 kV ties between substations, and the incoming line from the 220 kV grid
    ("P-110-IN", "220kV侯寨站—马寨线", "Houzhai 220 kV - Mazhai 110 kV line", E, [(3230, 5940), (3230, 5000)]),
    ("P-110-MG", "马寨—工业园110kV线", "Mazhai - Industrial Park 110 kV line", E, [(3230, 5000), (3230, 2700)]),
    ("P-110-GN", "工业园—南湖110kV线", "Industrial Park - Nanhu 110 kV line", E, [(3230, 2700), (3230, 700)]),
    ("P-110-GJ", "工业园—尖岗110kV线", "Industrial Park - Jiangang 110 kV line", U,
     [(3230, 2700), (3230, 3130), (5080, 3130), (5080, 3530), (7300, 3530), (7300, 3400)]),
]
for fid, name, name_en, status, pts in HV:
    add("power_lines", fid, "LineString", [ll(p) for p in pts], {
        "name": name, "name_en": name_en, "voltage_kv": 110, "status": status,
        "operator": "国网郑州供电公司 State Grid Zhengzhou", "source": "illustrative"})
feeder_lines = [f[0] for f in FEEDERS]
n = 0
for pts, status, kv in FEEDERS:
    stub = len(pts) == 2 and (pts[0][0] in (3230, 7300))
    full = with_junctions(pts, feeder_lines)
    for piece in pieces(full):
        n += 1
        # Stubs start exactly at the substation and end on the feeder, which
        # runs beside the road (shifted).
        if stub:
            coords = [ll(piece[0]), ll(shift([piece[1]], POWER_OFF)[0])]
        else:
            coords = [ll(p) for p in shift(piece, POWER_OFF)]
        add("power_lines", f"P-10-{n:03d}", "LineString", coords, {
            "name": f"10kV配电线{n}", "name_en": f"10 kV feeder {n}", "voltage_kv": kv,
            "status": status, "operator": "国网郑州供电公司 State Grid Zhengzhou",
            "source": "illustrative"})

# --- parks and sites ----------------------------------------------------------------
MU = 2000 / 3  # m² per mu


def rect(x, y, w, h):
    return [(x, y), (x + w, y), (x + w, y + h), (x, y + h)]


def area(pts):
    return abs(sum(a[0] * b[1] - b[0] * a[1] for a, b in zip(pts, pts[1:] + pts[:1]))) / 2


PARKS = [
    ("PK-BINHU-1", "滨湖公园一期", "Binhu Park phase 1", E, rect(4700, 1900, 700, 350),
     "beside Pinghu Rd on the lake's north shore"),
    ("PK-BINHU-2", "滨湖公园二期(中央公园)", "Binhu Park phase 2 (Central Park)", U,
     rect(5500, 2050, 700, 400), "Central Park project"),
    ("PK-MAZHAI", "马寨街心公园", "Mazhai pocket park", E, rect(2830, 4840, 140, 130), None),
    ("PK-GONGMING", "公明游园", "Gongming garden", E, rect(1100, 3200, 300, 250), None),
]
for fid, name, name_en, status, pts, note in PARKS:
    props = {"name": name, "name_en": name_en, "status": status, "area_m2": None,
             "source": "illustrative"}
    if note:
        props["note"] = note
    add("parks", fid, "Polygon", poly(pts), props)

smart_port_h = 164 * MU / 400.0
SITES = [
    ("ST-SMARTPORT", "国际·北方区域总部智慧港", "International Northern Regional HQ Smart Port",
     "logistics", "under_construction", rect(1100, 900, 400, smart_port_h),
     {"area_mu": 164, "output_cny_per_year": 700_000_000, "tax_cny_per_year": 50_000_000,
      "jobs": 1000, "developer": "深国际 Shenzhen International",
      "note": "buildings 1-5 topped out; due to open in November; provincial key project"}),
    ("ST-ZHONGWU", "中物科技园", "Zhongwu Science & Technology Park", "incubator", "existing",
     rect(2100, 3200, 600, 350),
     {"investment_cny": 650_000_000, "target_output_cny_per_year": 2_000_000_000,
      "target_jobs": 2000, "firms_intending": 144, "firms_signed": 42, "target_firms": 200,
      "note": "new materials and smart manufacturing; city incubator; small-and-micro enterprise park"}),
    ("ST-HAOYU", "灏宇数字包装产业园", "Haoyu Digital Packaging Industrial Park", "incubator",
     "under_construction", rect(3300, 3200, 250, 350), {"note": "city incubator"}),
    ("ST-ZHENGTOU", "郑投科技创新园", "Zhengtou Science & Innovation Park", "industrial", "existing",
     rect(4300, 3200, 400, 350), {"note": "hosts Zhengzhou Linghang Robot Co. since May 2019"}),
    ("ST-HUAHUANIU", "花花牛乳业", "Huahuaniu Dairy", "industrial", "existing",
     rect(1100, 4120, 450, 350), {"note": "production lines operating"}),
    ("ST-DINGYI", "郑州顶益食品", "Zhengzhou Dingyi Foods", "industrial", "existing",
     rect(1100, 2400, 500, 500), {"note": "production lines operating"}),
    ("ST-MINGYANG", "郑州名扬窗饰", "Zhengzhou Mingyang Window Decoration", "industrial",
     "existing", rect(2100, 2400, 400, 400), {"note": "completed, awaiting acceptance"}),
    ("ST-LIANDONG", "联东U谷", "Liandong U Valley", "industrial", "existing",
     rect(3300, 2400, 600, 450), {"developer": "联东集团 Liandong Group"}),
    ("ST-ZHAOSHANG", "招商公园1872", "China Merchants Shekou Park 1872", "residential", "existing",
     rect(4700, 2350, 300, 400), {"developer": "招商蛇口 China Merchants Shekou"}),
    ("ST-JINMAO", "中国金茂凤湖项目", "China Jinmao Fenghu project", "residential",
     "under_construction", rect(6000, 3600, 400, 400), {"developer": "中国金茂 China Jinmao"}),
]
# Road frontage: a site's boundary lies on the road side, FRONTAGE_M from the
# centre line of its nearest road on each axis (half a 40 m road reserve plus
# a 5 m green strip; the utility corridors run 12-20 m off the centre line, so
# they stay outside the parcels). Sites were first drawn on a 100 m offset
# grid; this moves each one onto the road it faces.
FRONTAGE_M = 25.0


def frontage_shift(pts):
    xs = [p[0] for p in pts]
    ys = [p[1] for p in pts]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    best = {"x": None, "y": None}
    for r in ROADS:
        (ax, ay), (bx, by) = r[5][0], r[5][-1]
        if ax == bx and min(ay, by) < y1 and max(ay, by) > y0:  # north-south road
            for edge, sign in ((x0, -1), (x1, 1)):
                gap = (ax - edge) * sign
                if 0 < gap <= 150 and (best["x"] is None or gap < abs(best["x"][0])):
                    best["x"] = (gap * sign, sign)
        if ay == by and min(ax, bx) < x1 and max(ax, bx) > x0:  # east-west road
            for edge, sign in ((y0, -1), (y1, 1)):
                gap = (ay - edge) * sign
                if 0 < gap <= 150 and (best["y"] is None or gap < abs(best["y"][0])):
                    best["y"] = (gap * sign, sign)
    dx = 0.0 if best["x"] is None else best["x"][0] - FRONTAGE_M * best["x"][1]
    dy = 0.0 if best["y"] is None else best["y"][0] - FRONTAGE_M * best["y"][1]

    def clear(dx, dy):
        # A substation's own plot (40 m around it) stays outside every site.
        return not any(x0 + dx - 40 < sx < x1 + dx + 40 and y0 + dy - 40 < sy < y1 + dy + 40
                       for _, _, _, _, (sx, sy), *_ in SUBSTATIONS)
    for ddx, ddy in ((dx, dy), (0.0, dy), (dx, 0.0), (0.0, 0.0)):
        if clear(ddx, ddy):
            return [(x + ddx, y + ddy) for x, y in pts]
    return pts


SITES = [(fid, name, name_en, kind, status, frontage_shift(pts), extra)
         for fid, name, name_en, kind, status, pts, extra in SITES]

for fid, name, name_en, kind, status, pts, extra in SITES:
    props = {"name": name, "name_en": name_en, "kind": kind, "status": status,
             "area_m2": None, "source": "illustrative"}
    props.update(extra)
    add("sites", fid, "Polygon", poly(pts), props)

# area_m2 agrees with the geometry (the same ruler the data tests check).
for layer in ("parks", "sites"):
    for f in features[layer]:
        ring = f["geometry"]["coordinates"][0]
        f["properties"]["area_m2"] = round(area([xy(c) for c in ring[:-1]]), 1)

# --- site connections ---------------------------------------------------------
# Real networks end in dead-end branches: a plant hangs on its own branch main
# or feeder, and losing that one line cuts it off whatever the grid's
# redundancy. A line's `site_id` names the site it connects directly
# (coverage.toml: `site_property`); the site is then supplied through it
# alone. These are the sample's single points of failure
# (/api/network/critical): Dingyi Foods and Huahuaniu Dairy hang on one
# branch main each, Liandong U Valley on two (from two mains: no single
# point), and Liandong on one 10 kV feeder from the Industrial Park
# substation beside it.


def site_ring(fid):
    f = next(f for f in features["sites"] if f["id"] == fid)
    return [xy(c) for c in f["geometry"]["coordinates"][0]]


def foot(p, a, b):
    dx, dy = b[0] - a[0], b[1] - a[1]
    t = max(0.0, min(1.0, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / (dx * dx + dy * dy)))
    return (a[0] + t * dx, a[1] + t * dy), t


def into_site(start, ring, depth=40.0):
    """From `start` toward the site's centre, `depth` metres past its boundary."""
    cx = sum(p[0] for p in ring[:-1]) / (len(ring) - 1)
    cy = sum(p[1] for p in ring[:-1]) / (len(ring) - 1)
    d = math.hypot(cx - start[0], cy - start[1])
    k = min(1.0, (line_dist(start, ring) + depth) / d)
    return (start[0] + (cx - start[0]) * k, start[1] + (cy - start[1]) * k)


def tee_off(site, skip):
    """A branch from the nearest existing water main not in `skip`, teed in at the
    point nearest the site's centre (where the main is split, so the three
    pipes share a node)."""
    ring = site_ring(site)
    cx = sum(p[0] for p in ring[:-1]) / (len(ring) - 1)
    cy = sum(p[1] for p in ring[:-1]) / (len(ring) - 1)
    mains = [f for f in features["pipelines"] if f["properties"]["utility"] == "water"
             and f["properties"]["role"] == "main" and f["properties"]["status"] == E
             and f["id"].rstrip("B") not in skip]
    scored = []
    for f in mains:
        pts = [xy(c) for c in f["geometry"]["coordinates"]]
        best = min((math.dist(foot((cx, cy), a, b)[0], (cx, cy)), i) for i, (a, b) in enumerate(zip(pts, pts[1:])))
        scored.append((best[0], best[1], f, pts))
    scored.sort(key=lambda x: x[0])
    _, i, main, pts = scored[0]
    tee, t = foot((cx, cy), pts[i], pts[i + 1])
    if 1.0 < math.dist(tee, pts[i]) and 1.0 < math.dist(tee, pts[i + 1]):
        # Split the main at the tee, as real data splits pipes at junctions:
        # the main keeps its first part, the second is "<id>B".
        coords = main["geometry"]["coordinates"]
        tee_ll = ll(tee)
        main["geometry"]["coordinates"] = coords[:i + 1] + [tee_ll]
        props = dict(main["properties"])
        props["name"] += "B"
        props["name_en"] += "B"
        add("pipelines", main["id"] + "B", "LineString", [tee_ll] + coords[i + 1:], props)
    else:
        tee_ll = main["geometry"]["coordinates"][i + (t >= 0.5)]
        tee = xy(tee_ll)
    return [tee_ll, ll(into_site(tee, ring))], main["id"]


WATER_BRANCHES = [("W-B01", "ST-DINGYI"), ("W-B02", "ST-HUAHUANIU"),
                  ("W-B03", "ST-LIANDONG"), ("W-B04", "ST-LIANDONG")]
used = {}
for fid, site in WATER_BRANCHES:
    coords, main = tee_off(site, used.setdefault(site, set()))
    used[site].add(main)
    n = fid[-2:].lstrip("0")
    add("pipelines", fid, "LineString", coords, {
        "name": f"给水支管{n}", "name_en": f"Water branch main {n}", "utility": "water",
        "status": E, "role": "branch", "site_id": site, "operator": "郑州水务 Zhengzhou Water",
        "diameter_mm": 200, "note": f"teed off {main}", "source": "illustrative"})

gongye = next(p for fid, _, _, _, p, *_ in SUBSTATIONS if fid == "SS-GONGYE")
add("power_lines", "P-10-S01", "LineString",
    [ll(gongye), ll(into_site(gongye, site_ring("ST-LIANDONG")))], {
        "name": "联东U谷10kV专线", "name_en": "Liandong U Valley 10 kV dedicated feeder",
        "voltage_kv": 10, "status": E, "site_id": "ST-LIANDONG",
        "operator": "国网郑州供电公司 State Grid Zhengzhou", "source": "illustrative"})

# --- checks ---------------------------------------------------------------------
ok = True
for status, (count, length) in TARGET.items():
    rs = [f for f in features["roads"] if f["properties"]["status"] == status]
    total = sum(geo_len(f["geometry"]["coordinates"]) for f in rs)
    print(f"roads {status}: {len(rs)} roads, {total / 1000:.3f} km (target {count}, {length / 1000} km)")
    ok &= len(rs) == count and abs(total - length) < 1

ends = 0
on = 0
roads_xy = [[xy(c) for c in f["geometry"]["coordinates"]] for f in features["roads"]]
for i, r in enumerate(roads_xy):
    for p in (r[0], r[-1]):
        ends += 1
        if any(line_dist(p, o) < 0.5 for j, o in enumerate(roads_xy) if j != i):
            on += 1
print(f"road ends on another road: {on}/{ends} = {on / ends:.0%}")
ok &= on / ends >= 0.8

zone_xy = ZONE


def reach_check(label, lines, reach, region, exclude=None):
    miss = []
    xs = range(600, 8051, 50)
    ys = range(300, 6151, 50)
    for x in xs:
        for y in ys:
            p = (x, y)
            if not in_ring(p, region) or (exclude and exclude(p)):
                continue
            if min(line_dist(p, ln) for ln in lines) > reach:
                miss.append(p)
    cells = sorted({(x // 500 * 500, y // 500 * 500) for x, y in miss})
    print(f"{label}: {len(miss)} grid points beyond {reach} m, in 500 m cells", cells)
    return miss


gas_existing = [[xy(c) for c in f["geometry"]["coordinates"]] for f in features["pipelines"]
                if f["properties"]["utility"] == "gas" and f["properties"]["status"] == E]
ok &= not reach_check("gas (existing)", gas_existing, 500, ZONE, in_lake)

subs = {f["id"]: (xy(f["geometry"]["coordinates"]), f["properties"]) for f in features["substations"]}


def power_miss(include_uc):
    miss = []
    for x in range(600, 8051, 50):
        for y in range(300, 6151, 50):
            if not in_ring((x, y), ZONE) or in_lake((x, y)):
                continue
            covered = False
            for p, pr in subs.values():
                if pr["status"] != E and not include_uc:
                    continue
                r = pr.get("service_radius_m", 3000)
                covered |= math.hypot(x - p[0], y - p[1]) <= r
            if not covered:
                miss.append((x, y))
    return miss


now, later = power_miss(False), power_miss(True)
in_fenghu = sum(in_ring(p, FENGHU) for p in now)
print(f"power today: {len(now)} uncovered grid points, {in_fenghu} of them in Fenghu; planned: {len(later)}")
ok &= len(now) > 0 and in_fenghu == len(now) and not later

steam = [[xy(c) for c in f["geometry"]["coordinates"]] for f in features["pipelines"]
         if f["properties"]["utility"] == "steam" and f["properties"]["status"] == E]
for f in features["sites"]:
    if f["properties"]["kind"] != "industrial":
        continue
    ring = [xy(c) for c in f["geometry"]["coordinates"][0]]
    worst = max(min(line_dist(p, s) for s in steam) for p in ring)
    print(f"steam reach to {f['properties']['name_en']}: farthest corner {worst:.0f} m")
    ok &= worst <= 500

sp = next(f for f in features["sites"] if f["id"] == "ST-SMARTPORT")
print(f"smart port: {sp['properties']['area_m2'] / 10000:.3f} ha (164 mu = 10.933 ha)")

for layer, feats in features.items():
    path = os.path.join(OUT, f"{layer}.geojson")
    with open(path, "w", encoding="utf-8") as fh:
        fh.write('{"type":"FeatureCollection","features":[\n')
        fh.write(",\n".join(json.dumps(f, ensure_ascii=False, separators=(",", ":")) for f in feats))
        fh.write("\n]}\n")
    print(f"wrote {path}: {len(feats)} features")

if not ok:
    print("CHECKS FAILED", file=sys.stderr)
    sys.exit(1)
