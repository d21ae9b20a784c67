"""Edit a zoneatlas GeoPackage store the way a planner does in QGIS: the
layer opened with the `ogr` provider, an edit session, commitChanges.
Run with Debian's python3 (python3-qgis), headless (QT_QPA_PLATFORM=offscreen).

argv: STORE ACTION [ARGS...]
  attribute LAYER ID FIELD VALUE   set a property (text) of the feature
  move LAYER ID DX DY              move the feature's first vertex (degrees)
  add LAYER FROM_ID FIELD=VALUE... a copy of FROM_ID's geometry, no zoneatlas_id
  delete LAYER ID                  delete the feature
  bowtie LAYER FROM_ID             a self-intersecting polygon in a copy of FROM_ID
stdout: {"ok": true, "fid": ...} or {"ok": false, "error": ...}.
"""
import json
import os
import sys

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from qgis.core import (  # noqa: E402
    QgsApplication,
    QgsFeature,
    QgsGeometry,
    QgsPointXY,
    QgsVectorLayer,
)

app = QgsApplication([], False)
app.initQgis()


def layer(store, name):
    lyr = QgsVectorLayer(f"{store}|layername={name}", name, "ogr")
    if not lyr.isValid():
        raise SystemExit(json.dumps({"ok": False, "error": f"cannot open {name}"}))
    return lyr


def by_id(lyr, fid_text):
    for f in lyr.getFeatures():
        if f["zoneatlas_id"] == fid_text:
            return f
    raise SystemExit(json.dumps({"ok": False, "error": f"no feature {fid_text}"}))


def commit(lyr):
    if not lyr.commitChanges():
        return {"ok": False, "error": "; ".join(lyr.commitErrors())}
    return {"ok": True}


store, action, *args = sys.argv[1:]
out = {"ok": False, "error": "unknown action"}
if action == "attribute":
    name, fid_text, field, value = args
    lyr = layer(store, name)
    f = by_id(lyr, fid_text)
    lyr.startEditing()
    lyr.changeAttributeValue(f.id(), lyr.fields().indexOf(field), value)
    out = commit(lyr)
elif action == "move":
    name, fid_text, dx, dy = args
    lyr = layer(store, name)
    f = by_id(lyr, fid_text)
    g = QgsGeometry(f.geometry())
    p = g.vertexAt(0)
    g.moveVertex(p.x() + float(dx), p.y() + float(dy), 0)
    lyr.startEditing()
    lyr.changeGeometry(f.id(), g)
    out = commit(lyr)
elif action == "add":
    name, from_id, *pairs = args
    lyr = layer(store, name)
    src = by_id(lyr, from_id)
    f = QgsFeature(lyr.fields())
    f.setGeometry(QgsGeometry(src.geometry()))
    for pair in pairs:
        k, v = pair.split("=", 1)
        f[k] = float(v) if k.endswith("_m") else v
    lyr.startEditing()
    lyr.addFeature(f)
    out = commit(lyr)
elif action == "delete":
    name, fid_text = args
    lyr = layer(store, name)
    f = by_id(lyr, fid_text)
    lyr.startEditing()
    lyr.deleteFeature(f.id())
    out = commit(lyr)
elif action == "bowtie":
    name, from_id = args
    lyr = layer(store, name)
    src = by_id(lyr, from_id)
    c = src.geometry().centroid().asPoint()
    d = 0.002
    ring = [
        QgsPointXY(c.x() - d, c.y() - d),
        QgsPointXY(c.x() + d, c.y() + d),
        QgsPointXY(c.x() + d, c.y() - d),
        QgsPointXY(c.x() - d, c.y() + d),
        QgsPointXY(c.x() - d, c.y() - d),
    ]
    f = QgsFeature(lyr.fields())
    for field in lyr.fields():
        if field.name() not in ("fid", "zoneatlas_id", "zoneatlas_revision", "zoneatlas_extra"):
            f[field.name()] = src[field.name()]
    f["name"] = "蝴蝶 bow-tie"
    f.setGeometry(QgsGeometry.fromPolygonXY([ring]))
    lyr.startEditing()
    lyr.addFeature(f)
    out = commit(lyr)
print(json.dumps(out))
app.exitQgis()
