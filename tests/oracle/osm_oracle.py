"""Independent counts for an OSM extract, by pyosmium (libosmium): the
features zoneatlas's default profile should import, with the same rule for
incomplete data: a way counts only when every node it references is in
the extract; areas (closed ways and multipolygon relations) are assembled
by libosmium's own area builder.

Line layers also get their total length ("roads_km", ...): the geodesic
length of every counted way on the WGS84 ellipsoid (pyproj), which checks
the positions and the order of each way's nodes, not only the counts.

argv[1]: the .osm.pbf. stdout: {"roads": n, "parks": n, "sites": n,
"power_lines": n, "pipelines": n, "roads_km": x, ...}.
"""
import json
import sys

import osmium
from pyproj import Geod

GEOD = Geod(ellps="WGS84")

LINES = {
    "roads": lambda t: "highway" in t,
    "power_lines": lambda t: t.get("power") in ("line", "minor_line", "cable"),
    "pipelines": lambda t: t.get("man_made") == "pipeline",
}
AREAS = {
    "parks": lambda t: t.get("leisure") == "park",
    "sites": lambda t: t.get("landuse") in ("industrial", "commercial"),
}


class Counter(osmium.SimpleHandler):
    def __init__(self):
        super().__init__()
        self.counts = {k: 0 for k in list(LINES) + list(AREAS)}
        self.km = {k + "_km": 0.0 for k in LINES}

    def way(self, w):
        tags = {t.k: t.v for t in w.tags}
        if not tags or not all(n.location.valid() for n in w.nodes):
            return
        for layer, rule in LINES.items():
            if rule(tags):
                self.counts[layer] += 1
                lons = [n.location.lon for n in w.nodes]
                lats = [n.location.lat for n in w.nodes]
                self.km[layer + "_km"] += GEOD.line_length(lons, lats) / 1000.0

    def area(self, a):
        tags = {t.k: t.v for t in a.tags}
        for layer, rule in AREAS.items():
            if rule(tags):
                self.counts[layer] += 1


h = Counter()
h.apply_file(sys.argv[1], locations=True)
print(json.dumps({**h.counts, **h.km}))
