"""Independent oracle for coverage areas: shapely in UTM 49N (pyproj).

Reads the data folder's coverage.toml with Python's own TOML parser, selects
the assets of each service in the scenario, buffers them by their reach in
UTM zone 49N (EPSG:32649, which holds Zhengzhou) with 64 segments a quarter
circle, and measures parcels and the zone.

stdin: {"dir": ..., "scenario": "current"|"planned", "parcels": [[[lon, lat], ...], ...]}
stdout: {"parcels": [{"area_m2": a, "covered_m2": {service: m2}}], "zone": {"area_m2": a, "share": {service: s}}}
"""
import json
import sys
import tomllib

from pyproj import Transformer
from shapely.geometry import Polygon, shape
from shapely.ops import transform, unary_union

req = json.load(sys.stdin)
folder = req["dir"]
with open(f"{folder}/coverage.toml", "rb") as fh:
    rules = tomllib.load(fh)
to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32649", always_xy=True).transform
statuses = set(rules["scenarios"][req["scenario"]])
status_prop = rules["scenarios"]["status_property"]


def features(collection):
    with open(f"{folder}/{collection}.geojson", encoding="utf-8") as fh:
        return json.load(fh)["features"]


def text(v):
    return v if isinstance(v, str) else json.dumps(v)


def matches(props, where):
    return all(k in props and text(props[k]) == text(v) for k, v in (where or {}).items())


cover = {}
for name, rule in rules["services"].items():
    parts = []
    for f in features(rule["collection"]):
        p = f["properties"]
        if not matches(p, rule.get("where")):
            continue
        if status_prop in p and p[status_prop] not in statuses:
            continue
        reach = rule["reach_m"]
        by = rule.get("reach_by")
        if by and text(p.get(by["property"])) in by["values"]:
            reach = by["values"][text(p[by["property"]])]
        own = p.get(rule.get("reach_property") or "")
        if isinstance(own, (int, float)) and own > 0:
            reach = own
        parts.append(transform(to_utm, shape(f["geometry"])).buffer(reach, quad_segs=64))
    cover[name] = unary_union(parts) if parts else Polygon()

out = {"parcels": []}
for ring in req["parcels"]:
    p = transform(to_utm, Polygon(ring))
    out["parcels"].append({"area_m2": p.area,
                           "covered_m2": {n: p.intersection(c).area for n, c in cover.items()}})

zone = unary_union([transform(to_utm, shape(f["geometry"])) for f in features(rules["zone"]["collection"])
                    if matches(f["properties"], rules["zone"].get("where"))])
out["zone"] = {"area_m2": zone.area,
               "share": {n: zone.intersection(c).area / zone.area for n, c in cover.items()}}
print(json.dumps(out))
