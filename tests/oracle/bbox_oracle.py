"""Independent oracle for bbox queries: shapely's `intersects` on the files.

Reads JSON from stdin: {"dir": data folder, "layers": [...], "bboxes": [[w,s,e,n], ...]}
and prints {layer: [[ids intersecting bbox 0], [ids for bbox 1], ...]}.
"""
import json
import sys

from shapely.geometry import box, shape

req = json.load(sys.stdin)
out = {}
for layer in req["layers"]:
    with open(f"{req['dir']}/{layer}.geojson", encoding="utf-8") as fh:
        feats = json.load(fh)["features"]
    geoms = [(str(f["id"]), shape(f["geometry"])) for f in feats]
    out[layer] = [sorted(i for i, g in geoms if g.intersects(box(*b))) for b in req["bboxes"]]
print(json.dumps(out))
