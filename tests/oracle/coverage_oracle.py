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

from shapely.geometry import Polygon
from shapely.ops import transform, unary_union

from rules_data import Data, matches, reach_of, to_utm, utm

req = json.load(sys.stdin)
data = Data(req["dir"], req["scenario"])
rules = data.rules

cover = {}
for name, rule in rules["services"].items():
    parts = [utm(f).buffer(reach_of(rule, f["properties"]), quad_segs=64)
             for f in data.features(rule["collection"])
             if matches(f["properties"], rule.get("where")) and data.counts(f["properties"])]
    cover[name] = unary_union(parts) if parts else Polygon()

out = {"parcels": []}
for ring in req["parcels"]:
    p = transform(to_utm, Polygon(ring))
    out["parcels"].append({"area_m2": p.area,
                           "covered_m2": {n: p.intersection(c).area for n, c in cover.items()}})

zone = unary_union([utm(f) for f in data.features(rules["zone"]["collection"])
                    if matches(f["properties"], rules["zone"].get("where"))])
out["zone"] = {"area_m2": zone.area,
               "share": {n: zone.intersection(c).area / zone.area for n, c in cover.items()}}
print(json.dumps(out))
