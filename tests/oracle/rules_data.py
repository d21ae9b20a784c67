"""What the coverage oracles share: a data folder's coverage.toml and GeoJSON
read with Python's own parsers, the scenario's statuses, and reaches as the
rules define them. Independent of zoneatlas: only the file formats are
common."""
import json
import tomllib

from pyproj import Transformer
from shapely.geometry import shape
from shapely.ops import transform

# UTM zone 49N (EPSG:32649) holds Zhengzhou.
to_utm = Transformer.from_crs("EPSG:4326", "EPSG:32649", always_xy=True).transform


class Data:
    def __init__(self, folder, scenario):
        self.folder = folder
        with open(f"{folder}/coverage.toml", "rb") as fh:
            self.rules = tomllib.load(fh)
        self.statuses = set(self.rules["scenarios"][scenario])
        self.status_prop = self.rules["scenarios"]["status_property"]

    def features(self, collection):
        with open(f"{self.folder}/{collection}.geojson", encoding="utf-8") as fh:
            return json.load(fh)["features"]

    def counts(self, props):
        """Whether a feature counts in the scenario (no status: always)."""
        return props.get(self.status_prop) is None or props[self.status_prop] in self.statuses


def text(v):
    return v if isinstance(v, str) else json.dumps(v)


def matches(props, where):
    return all(k in props and text(props[k]) == text(v) for k, v in (where or {}).items())


def reach_of(rule, p):
    """A feature's reach: its own reach_property, else reach_by, else reach_m."""
    reach = rule["reach_m"]
    by = rule.get("reach_by")
    if by and text(p.get(by["property"])) in by["values"]:
        reach = by["values"][text(p[by["property"]])]
    own = p.get(rule.get("reach_property") or "")
    if isinstance(own, (int, float)) and own > 0:
        reach = own
    return reach


def utm(f):
    return transform(to_utm, shape(f["geometry"]))
