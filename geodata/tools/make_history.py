#!/usr/bin/env python3
"""Write geodata/history.toml: an illustrative history of the sample.

The data folder holds the zone as the article reports it (autumn 2026).
This script invents, deterministically, how the listed features got there
since the store's import in January 2024: roads moving from planned to
under construction to existing, the Jiangang substation and the 10 kV
lines going under construction, a park started, a few planned roads added.
Run it from the repository root; it only reads the sample's GeoJSON.
"""
import json
import pathlib

ROOT = pathlib.Path(__file__).resolve().parents[1]
IMPORT = "2024-01-08T09:00:00+08:00"


def features(layer):
    return json.loads((ROOT / f"{layer}.geojson").read_text())["features"]


def day(i, start_month, span_months, n):
    """The i-th of n dates spread over span_months from start (YYYY-MM)."""
    y, m = start_month
    months = (span_months * i) // max(n, 1)
    m0 = (m - 1) + months
    d = 3 + (i * 7) % 24
    return f"{y + m0 // 12:04d}-{m0 % 12 + 1:02d}-{d:02d}T09:00:00+08:00"


entries = []


def timeline(layer, fid, steps):
    entries.append((layer, fid, steps))


roads = features("roads")
by_status = {s: [f["id"] for f in roads if f["properties"]["status"] == s]
             for s in ("existing", "under_construction", "planned")}
# 12 roads were open at the import; 13 were being built and opened since.
built = by_status["existing"][12:]
for i, fid in enumerate(built):
    timeline("roads", fid, [(IMPORT, "under_construction"),
                            (day(i, (2024, 3), 30, len(built)), "existing")])
# 6 roads were being built at the import; 16 were planned and started since.
started = by_status["under_construction"][6:]
for i, fid in enumerate(started):
    timeline("roads", fid, [(IMPORT, "planned"),
                            (day(i, (2024, 5), 29, len(started)), "under_construction")])
# 5 of the planned roads were added to the plan in 2025-2026.
added = by_status["planned"][10:]
for i, fid in enumerate(added):
    timeline("roads", fid, [(day(i, (2025, 2), 18, len(added)), "planned")])

timeline("substations", "SS-JIANGANG",
         [(IMPORT, "planned"), ("2025-03-18T09:00:00+08:00", "under_construction")])
for i, f in enumerate(f for f in features("power_lines")
                      if f["properties"]["status"] == "under_construction"):
    timeline("power_lines", f["id"],
             [(IMPORT, "planned"), (day(i, (2025, 5), 6, 8), "under_construction")])
for f in features("parks"):
    if f["properties"]["status"] == "under_construction":
        timeline("parks", f["id"],
                 [(IMPORT, "planned"), ("2025-09-09T09:00:00+08:00", "under_construction")])

out = [
    "# An ILLUSTRATIVE history of the sample (invented, not surveyed): how the",
    "# listed features reached the state in the GeoJSON files, which is the",
    "# article's (autumn 2026). A new store replays it: revision 1 is the import",
    "# below, then one revision per date. Written by tools/make_history.py.",
    f'import = "{IMPORT}"',
    'who = "Erqi planning office (illustrative)"',
    "",
]
for layer, fid, steps in entries:
    pairs = ", ".join(f'["{t}", "{s}"]' for t, s in steps)
    out += ["[[feature]]", f'collection = "{layer}"', f'id = "{fid}"', f"status = [{pairs}]", ""]
(ROOT / "history.toml").write_text("\n".join(out))
print(f"{len(entries)} timelines")
