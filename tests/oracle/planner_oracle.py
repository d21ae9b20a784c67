"""Independent oracle for the planner's questions: shapely + pyproj for land
and demand, networkx for the N-1 list.

Reads the data folder's GeoJSON and coverage.toml with Python's own parsers
and computes, in UTM zone 49N (EPSG:32649):

- suitable land: the zone, intersected with each listed service's buffers
  (assets in the scenario, each by its reach plus extra_m), minus taken land (site, park
  and water polygons, road reserves `width_m` wide), cut into polygons;
- critical assets per networked service: the network as a graph (a node per
  vertex, snapped within the rules' tolerance; a node per asset joined to
  its vertices; a root joined to every source; by level, vertices snap only
  within their level and a line end at a source joins that source alone,
  as the README's "Networks by level" states), each site joined to its
  feeds (its own linked lines, else the assets within reach); an asset is
  critical for a site when it is one of networkx's articulation points whose
  removal separates the site from the root. The same list is computed again
  by brute force (remove each asset, test every site with nx.has_path) and
  the two must agree;
- substation demand: each counted site's demand_kw, else its area times the
  density of its kind, summed on the substation its feeder touches, else the
  nearest substation whose reach includes it.

stdin: {"dir", "scenario", "services": [..], "min_area_m2", "exclude": [..], "extra_m"}
stdout: {"pieces_m2": [...], "suitable_m2": a, "critical": {service: {asset: [sites]}},
         "capacity_kw": {substation: kW}}
"""
import json
import sys

import networkx as nx
from shapely.geometry import Polygon
from shapely.ops import unary_union

from rules_data import Data, matches, reach_of, utm

req = json.load(sys.stdin)
data = Data(req["dir"], req["scenario"])
rules, features, counts = data.rules, data.features, data.counts


# --- suitable land -----------------------------------------------------------
zone = unary_union([utm(f) for f in features(rules["zone"]["collection"])
                    if matches(f["properties"], rules["zone"].get("where"))])
land = zone
for name in req["services"]:
    rule = rules["services"][name]
    parts = [utm(f).buffer(reach_of(rule, f["properties"]) + req.get("extra_m", 0), quad_segs=64)
             for f in features(rule["collection"])
             if matches(f["properties"], rule.get("where")) and counts(f["properties"])]
    land = land.intersection(unary_union(parts) if parts else Polygon())
taken = []
for collection in req["exclude"]:
    for f in features(collection):
        g = utm(f)
        if g.geom_type in ("LineString", "MultiLineString"):
            w = f["properties"].get("width_m")
            g = g.buffer((w if isinstance(w, (int, float)) and w > 0 else 20.0) / 2, quad_segs=64)
        taken.append(g)
land = land.difference(unary_union(taken))
polys = list(getattr(land, "geoms", [land]))
areas = sorted((p.area for p in polys if p.geom_type == "Polygon"), reverse=True)
out = {"suitable_m2": sum(areas), "pieces_m2": [a for a in areas if a >= req["min_area_m2"]]}

# --- critical assets -----------------------------------------------------------
sites = features(rules["sites"]["collection"])
site_shapes = {f["id"]: utm(f) for f in sites}
out["critical"] = {}
for name, rule in rules["services"].items():
    net = rule.get("network")
    if not net:
        continue
    own = {"collection": rule["collection"], "where": rule.get("where")}
    lines_sel, sources_sel = net.get("lines", own), net.get("sources", own)
    tol = net.get("tolerance_m", 1.0)
    level_prop = net.get("level_property")
    nodes = {}  # level -> [(x, y)] of each vertex node, greedy snapping as the server does

    def node(p, level=None):
        pts = nodes.setdefault(level, [])
        for k, q in enumerate(pts):
            if (q[0] - p[0]) ** 2 + (q[1] - p[1]) ** 2 <= tol * tol:
                return ("v", level, k)
        pts.append(p)
        return ("v", level, len(pts) - 1)

    def level_of(props):
        v = props.get(level_prop)
        if isinstance(v, float) and v.is_integer():
            v = int(v)
        return None if v is None else str(v)

    g = nx.Graph()
    g.add_node("ROOT")
    line_feats = [f for f in features(lines_sel["collection"]) if matches(f["properties"], lines_sel.get("where"))]
    source_feats = [f for f in features(sources_sel["collection"]) if matches(f["properties"], sources_sel.get("where"))]
    if level_prop:
        # The documented rule (README, "Networks by level"): lines join lines
        # of their own level; a line vertex at a source (within the
        # tolerance of one of its vertices) is fed by that source and joins
        # nothing else; so an asset node per source joins its own vertex and
        # the line ends it feeds, and levels meet only through it.
        source_pts = [(f, list(utm(f).coords)) for f in source_feats]
        fed = {}  # source id -> line-end nodes it feeds
        for f in line_feats:
            ends = []
            for k, p in enumerate(utm(f).coords):
                at = [sf["id"] for sf, pts in source_pts
                      if any((q[0] - p[0]) ** 2 + (q[1] - p[1]) ** 2 <= tol * tol for q in pts)]
                if at:
                    v = ("end", f["id"], k)
                    for sid in at:
                        fed.setdefault(sid, []).append(v)
                else:
                    v = node(p, level_of(f["properties"]))
                ends.append(v)
            if counts(f["properties"]):
                g.add_edges_from((("a", f["id"]), v) for v in ends)
        for f in source_feats:
            if counts(f["properties"]):
                a = ("a", f["id"])
                g.add_edge(a, "ROOT")
                g.add_edges_from((a, ("own", f["id"], k)) for k, _ in enumerate(utm(f).coords))
                g.add_edges_from((a, v) for v in fed.get(f["id"], []))
    else:
        for kind, feats in (("line", line_feats), ("source", source_feats)):
            for f in feats:
                vertices = [node(c) for c in utm(f).coords]
                if not counts(f["properties"]):
                    continue
                a = ("a", f["id"])
                for v in vertices:
                    g.add_edge(a, v)
                if kind == "source":
                    g.add_edge(a, "ROOT")
    links = {}
    prop = net.get("site_property")
    for f in line_feats:
        if prop and f["properties"].get(prop) and counts(f["properties"]):
            links.setdefault(f["properties"][prop], []).append(("a", f["id"]))
    assets = [f for f in features(rule["collection"])
              if matches(f["properties"], rule.get("where")) and counts(f["properties"])]
    feeds = {}
    for sid, shp in site_shapes.items():
        if sid in links:
            feeds[sid] = links[sid]
        else:
            feeds[sid] = [("a", f["id"]) for f in assets
                          if utm(f).distance(shp) <= reach_of(rule, f["properties"])]
        feeds[sid] = [a for a in feeds[sid] if a in g]

    def supplied(graph, sid):
        return any(a in graph and nx.has_path(graph, "ROOT", a) for a in feeds[sid])

    # networkx articulation points, site by site.
    by_ap = {}
    for sid in site_shapes:
        if not supplied(g, sid):
            continue
        h = g.copy()
        h.add_edges_from(("SITE", a) for a in feeds[sid])
        for x in nx.articulation_points(h):
            if x in ("ROOT", "SITE") or x[0] != "a":
                continue
            cut = h.copy()
            cut.remove_node(x)
            if not nx.has_path(cut, "ROOT", "SITE"):
                by_ap.setdefault(x[1], []).append(sid)
    # Brute force: every asset removed in turn.
    by_force = {}
    for x in [n for n in g if n != "ROOT" and n[0] == "a"]:
        cut = g.copy()
        cut.remove_node(x)
        for sid in site_shapes:
            if supplied(g, sid) and not supplied(cut, sid):
                by_force.setdefault(x[1], []).append(sid)
    norm = lambda d: {k: sorted(v) for k, v in d.items()}
    if norm(by_ap) != norm(by_force):
        print(json.dumps({"error": f"{name}: articulation points {norm(by_ap)} != brute force {norm(by_force)}"}))
        sys.exit(0)
    out["critical"][name] = norm(by_ap)

# --- capacity ----------------------------------------------------------------------
cap = rules.get("capacity")
if cap:
    power = rules["services"]["power"]
    subs = [f for f in features(power["collection"]) if counts(f["properties"])]
    prop = power.get("network", {}).get("site_property")
    feeder_of = {}
    for f in features(power.get("network", {}).get("lines", {}).get("collection", power["collection"])):
        p = f["properties"]
        if prop and p.get(prop) and counts(p):
            feeder_of.setdefault(p[prop], []).append(utm(f))
    load = {f["id"]: 0.0 for f in subs}
    for f in sites:
        p = f["properties"]
        if not counts(p):
            continue
        shp = site_shapes[f["id"]]
        stated = p.get(cap.get("demand_property", "demand_kw"))
        if isinstance(stated, (int, float)):
            kw = float(stated)
        else:
            density = cap["density_w_per_m2"].get(p.get(cap.get("kind_property", "kind")))
            if density is None:
                continue
            kw = shp.area * density / 1000
        sub = None
        for line in feeder_of.get(f["id"], []):
            touching = [s for s in subs if utm(s).distance(line) <= 1.0
                        and min(utm(s).distance(type(utm(s))(c)) for c in line.coords) <= 1.0]
            if touching:
                sub = touching[0]["id"]
                break
        if sub is None:
            reach = [(utm(s).distance(shp), s["id"]) for s in subs
                     if utm(s).distance(shp) <= reach_of(power, s["properties"])]
            if reach:
                sub = min(reach)[1]
        if sub is not None:
            load[sub] += kw
    out["capacity_kw"] = load

print(json.dumps(out))
