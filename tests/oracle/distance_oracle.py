"""Oracle for point coverage on imported data: shapely distances in a UTM
zone (pyproj), from each point to the nearest feature of each layer.

stdin: {"utm": 32635, "layers": {"roads": FeatureCollection, ...},
        "points": [[lon, lat], ...]}
stdout: {"roads": [metres, ...], ...}  (null where a layer is empty)
"""
import json
import sys

from pyproj import Transformer
from shapely.geometry import Point, shape
from shapely.ops import transform
from shapely.strtree import STRtree

req = json.load(sys.stdin)
to_utm = Transformer.from_crs("EPSG:4326", f"EPSG:{req['utm']}", always_xy=True).transform
out = {}
for name, fc in req["layers"].items():
    geoms = [transform(to_utm, shape(f["geometry"])) for f in fc["features"]]
    tree = STRtree(geoms) if geoms else None
    res = []
    for lon, lat in req["points"]:
        if tree is None:
            res.append(None)
            continue
        p = Point(to_utm(lon, lat))
        i = tree.nearest(p)
        res.append(geoms[i].distance(p))
    out[name] = res
print(json.dumps(out))
