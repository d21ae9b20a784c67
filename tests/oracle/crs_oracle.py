"""Oracle for zoneatlas's coordinate systems: pyproj (PROJ) projects the
same WGS84 points into each EPSG code, and a separate GCJ-02 / BD-09
implementation (written here from the published formulas, not from the
Rust code) offsets them.

stdin: {"codes": [3857, 4547, ...], "points": [[lon, lat], ...]}
stdout: {"epsg": {"3857": [[x, y], ...]}, "gcj02": [[lon, lat], ...], "bd09": [...]}
Projected coordinates are easting, northing (always_xy). With
"authority": true, they are in each CRS's own axis order instead (EPSG:4326
latitude first, the Gauss-Kruger CRSs northing first). With "features" (a
GeoJSON FeatureCollection in CRS84) and "box" ([minx, miny, maxx, maxy] in
EPSG "box_code", easting first), "intersecting" lists the ids of the
features whose projected geometry intersects the box (shapely).
"""
import json
import math
import sys

from pyproj import Transformer


def out_of_china(lon, lat):
    return not (72.004 <= lon <= 137.8347 and 0.8293 <= lat <= 55.8271)


def _lat(x, y):
    r = -100.0 + 2.0 * x + 3.0 * y + 0.2 * y * y + 0.1 * x * y + 0.2 * math.sqrt(abs(x))
    r += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    r += (20.0 * math.sin(y * math.pi) + 40.0 * math.sin(y / 3.0 * math.pi)) * 2.0 / 3.0
    r += (160.0 * math.sin(y / 12.0 * math.pi) + 320 * math.sin(y * math.pi / 30.0)) * 2.0 / 3.0
    return r


def _lon(x, y):
    r = 300.0 + x + 2.0 * y + 0.1 * x * x + 0.1 * x * y + 0.1 * math.sqrt(abs(x))
    r += (20.0 * math.sin(6.0 * x * math.pi) + 20.0 * math.sin(2.0 * x * math.pi)) * 2.0 / 3.0
    r += (20.0 * math.sin(x * math.pi) + 40.0 * math.sin(x / 3.0 * math.pi)) * 2.0 / 3.0
    r += (150.0 * math.sin(x / 12.0 * math.pi) + 300.0 * math.sin(x / 30.0 * math.pi)) * 2.0 / 3.0
    return r


def wgs2gcj(lon, lat):
    if out_of_china(lon, lat):
        return lon, lat
    a, ee = 6378245.0, 0.00669342162296594323
    dlat, dlon = _lat(lon - 105.0, lat - 35.0), _lon(lon - 105.0, lat - 35.0)
    radlat = lat / 180.0 * math.pi
    magic = 1 - ee * math.sin(radlat) ** 2
    sq = math.sqrt(magic)
    dlat = (dlat * 180.0) / ((a * (1 - ee)) / (magic * sq) * math.pi)
    dlon = (dlon * 180.0) / (a / sq * math.cos(radlat) * math.pi)
    return lon + dlon, lat + dlat


def gcj2bd(lon, lat):
    xpi = math.pi * 3000.0 / 180.0
    z = math.sqrt(lon * lon + lat * lat) + 0.00002 * math.sin(lat * xpi)
    theta = math.atan2(lat, lon) + 0.000003 * math.cos(lon * xpi)
    return z * math.cos(theta) + 0.0065, z * math.sin(theta) + 0.006


req = json.load(sys.stdin)
pts = req.get("points", [])
out = {"epsg": {}, "gcj02": [], "bd09": []}
authority = req.get("authority", False)
for code in req.get("codes", []):
    if authority:
        # EPSG:4326 as the source takes latitude first when not always_xy.
        t = Transformer.from_crs("EPSG:4326", f"EPSG:{code}")
        out["epsg"][str(code)] = [list(t.transform(lat, lon)) for lon, lat in pts]
    else:
        t = Transformer.from_crs("EPSG:4326", f"EPSG:{code}", always_xy=True)
        out["epsg"][str(code)] = [list(t.transform(lon, lat)) for lon, lat in pts]
if "features" in req:
    from shapely.geometry import box, shape
    from shapely.ops import transform

    t = Transformer.from_crs("EPSG:4326", f"EPSG:{req['box_code']}", always_xy=True)
    b = box(*req["box"])
    out["intersecting"] = sorted(
        str(f["id"]) for f in req["features"]["features"]
        if transform(t.transform, shape(f["geometry"])).intersects(b)
    )
for lon, lat in pts:
    g = wgs2gcj(lon, lat)
    out["gcj02"].append(list(g))
    out["bd09"].append(list(gcj2bd(*g)))
print(json.dumps(out))
