"""Reads every road through OWSLib's OGC API - Features client, page by
page; with a second argument, also the first road by its id
(`collection_item`), as a client that follows an id it was given."""
import json
import sys

from owslib.ogcapi.features import Features

api = Features(sys.argv[1])
ids = [c["id"] for c in api.collections()["collections"]]
roads, offset = [], 0
while True:
    page = api.collection_items("roads", limit=20, offset=offset)
    roads.extend(f["id"] for f in page["features"])
    offset += page["numberReturned"]
    if page["numberReturned"] == 0 or offset >= page["numberMatched"]:
        break
out = {"collections": ids, "roads": roads}
if len(sys.argv) > 2 and roads:
    item = api.collection_item("roads", str(roads[0]))
    out["item"] = item["id"]
print(json.dumps(out))
