"""Reads every road through OWSLib's OGC API - Features client, page by page."""
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
print(json.dumps({"collections": ids, "roads": roads}))
