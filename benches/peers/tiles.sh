#!/usr/bin/env bash
# Peers for vector tiles and CQL2 (issue #12), same data, same run, same
# machine: the 1M-segment synthetic city served by zoneatlas, and the same
# roads, pipelines and power lines loaded into a throwaway PostgreSQL 15 +
# PostGIS 3 cluster, served as tiles by Martin and queried by pgbench.
#
#   1. uncached z14 vector tiles over HTTP (wrk, 2 threads, 32 connections,
#      the same 2,000 random z14 tiles of the city for both): zoneatlas's
#      roads tile vs Martin's roads table (cache off), and all three line
#      layers in one tile for each;
#      and z14 tiles generated in process on both cores
#      (`cargo bench --bench tiles`, run after the servers stop), set
#      against Martin's HTTP figure from this run;
#   2. a CQL2 spatial + property filter on the roads (within 500 m of a
#      random point, status planned, first 100 as GeoJSON) vs the same
#      query in PostGIS (pgbench, 32 clients, GiST index + geography).
#
# Usage: bash benches/peers/tiles.sh
#   SEGMENTS=10000000 bash benches/peers/tiles.sh: the same on the 10M city
#   (its zone cut to 5 km at the centre, see small_zone in lib.sh; the
#   tiles, here and in the bench, are drawn over the 1M city's extent, the
#   middle of the bigger one)
# Needs: wrk, gdal-bin (ogr2ogr), postgresql-15-postgis-3 (apt-get install
# -y wrk gdal-bin postgresql-15-postgis-3), and Martin built from crates.io:
#   cargo install martin --locked --no-default-features --features postgres,mbtiles
# (MARTIN=/path/to/martin if it is not on PATH). Run as root (the cluster
# runs as the postgres user) or as a user who may run initdb. Not part of
# `cargo test`; prints a table of ratios at the end.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --profile dist -q
bin=$PWD/target/dist/zoneatlas
segments=${SEGMENTS:-1000000}
city=$PWD/target/synth-$((segments / 1000000))m
[ -f "$city/layers.toml" ] || "$bin" synth --segments "$segments" --out "$city" > /dev/null
martin=${MARTIN:-$(command -v martin || echo /tmp/martin/root/bin/martin)}
secs=${SECS:-15}
zaport=53001 mport=53000
source benches/peers/lib.sh
start_pg 55432
t0=$(date +%s.%N)
for l in roads pipelines power_lines; do
  ogr2ogr -f PostgreSQL "PG:host=127.0.0.1 port=$pgport user=postgres dbname=postgres" "$city/$l.geojson" \
    -nln "$l" -lco GEOMETRY_NAME=geom -lco SPATIAL_INDEX=GIST -nlt LINESTRING -gt 65536
done
"${psql[@]}" -c "vacuum analyze"
echo "loaded into PostGIS in $(echo "$(date +%s.%N) - $t0" | bc) s: $("${psql[@]}" -Atc "select count(*) from roads") roads"

echo "== zoneatlas on 127.0.0.1:$zaport, Martin on 127.0.0.1:$mport"
served=$city
if [ "$segments" -gt 1000000 ]; then
  served=$work/city
  small_zone "$city" "$served"
fi
RUST_LOG=warn "$bin" serve --data "$served" --addr 127.0.0.1:$zaport > "$work/za.log" 2>&1 &
pids+=($!)
"$martin" --listen-addresses 127.0.0.1:$mport --cache-size 0 --auto-bounds skip \
  "postgres://postgres@127.0.0.1:$pgport/postgres" > "$work/martin.log" 2>&1 &
pids+=($!)
# zoneatlas computes the zone's coverage at start (a minute on this city,
# both cores): measure after it, so it does not compete.
for sc in current planned; do
  for _ in $(seq 300); do
    [ "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$zaport/api/stats?scenario=$sc")" = 200 ] && break
    sleep 1
  done
done
for _ in $(seq 60); do curl -sf http://127.0.0.1:$mport/health > /dev/null && break; sleep 1; done

# The same 2,000 random z14 tiles (seeded) for both servers.
python3 - "$work" <<'EOF'
import math, random, sys
work = sys.argv[1]
rng = random.Random(14)
def tile(lon, lat, z):
    n = 2 ** z
    x = int((lon + 180) / 360 * n)
    y = int((1 - math.log(math.tan(math.radians(lat)) + 1 / math.cos(math.radians(lat))) / math.pi) / 2 * n)
    return x, y
tiles = [tile(rng.uniform(113.2856, 113.9544), rng.uniform(34.474, 35.026), 14) for _ in range(2000)]
props = "properties=status,class,utility,role,voltage_kv,kind"
with open(f"{work}/za_roads.txt", "w") as f:
    f.writelines(f"/api/collections/roads/tiles/WebMercatorQuad/14/{y}/{x}\n" for x, y in tiles)
with open(f"{work}/za_all.txt", "w") as f:
    f.writelines(f"/api/tiles/WebMercatorQuad/14/{y}/{x}?collections=roads,pipelines,power_lines&{props}\n" for x, y in tiles)
with open(f"{work}/m_roads.txt", "w") as f:
    f.writelines(f"/roads/14/{x}/{y}\n" for x, y in tiles)
with open(f"{work}/m_all.txt", "w") as f:
    f.writelines(f"/roads,pipelines,power_lines/14/{x}/{y}\n" for x, y in tiles)
EOF
cat > "$work/paths.lua" <<'EOF'
local paths, i = {}, 0
for line in io.lines(os.getenv("PATHS")) do paths[#paths + 1] = line end
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i], { ["Accept-Encoding"] = "gzip" })
end
EOF
cat > "$work/cql2.lua" <<'EOF'
-- A random point of the city; roads within 500 m, planned, first 100.
local function enc(s) return (s:gsub("[^%w%-%._~]", function(c) return string.format("%%%02X", string.byte(c)) end)) end
request = function()
  local lon = 113.2856 + math.random() * 0.6688
  local lat = 34.474 + math.random() * 0.552
  local f = string.format("S_DWITHIN(geometry, POINT(%.6f %.6f), 500) AND status = 'planned'", lon, lat)
  return wrk.format("GET", "/api/collections/roads/items?limit=100&filter=" .. enc(f))
end
EOF
cat > "$work/cql2.sql" <<'EOF'
\set lon 113.2856 + random(0, 1000000) * 0.0000006688
\set lat 34.474 + random(0, 1000000) * 0.000000552
SELECT json_build_object('type', 'FeatureCollection', 'features', coalesce(json_agg(ST_AsGeoJSON(r.*)::json), '[]'))
FROM (SELECT id, name, name_en, status, class, width_m, geom FROM roads
      WHERE geom && ST_Expand(ST_SetSRID(ST_MakePoint(:lon, :lat), 4326), 0.0066)
        AND ST_DWithin(geom::geography, ST_SetSRID(ST_MakePoint(:lon, :lat), 4326)::geography, 500)
        AND status = 'planned' LIMIT 100) r;
EOF

run_wrk() { PATHS="$2" wrk -t2 -c32 -d${secs}s -s "$3" "$1" | tee -a "$work/wrk.log" | rate; }
echo "== tiles (wrk -t2 -c32 -d${secs}s, 2,000 z14 tiles, gzip)"
za_roads=$(run_wrk http://127.0.0.1:$zaport "$work/za_roads.txt" "$work/paths.lua")
m_roads=$(run_wrk http://127.0.0.1:$mport "$work/m_roads.txt" "$work/paths.lua")
za_all=$(run_wrk http://127.0.0.1:$zaport "$work/za_all.txt" "$work/paths.lua")
m_all=$(run_wrk http://127.0.0.1:$mport "$work/m_all.txt" "$work/paths.lua")
echo "== CQL2 filter vs PostGIS"
za_cql=$(wrk -t2 -c32 -d${secs}s -s "$work/cql2.lua" http://127.0.0.1:$zaport | rate)
pg_cql=$(pgbench -n -h 127.0.0.1 -p $pgport -U postgres -c 32 -j 2 -T "$secs" -f "$work/cql2.sql" postgres 2> /dev/null \
  | grep -E "^tps" | awk '{print $3}')
# The database's own time for the query (no protocol): the mean of
# EXPLAIN ANALYZE's execution time over 190 random points, set against
# `cargo bench --bench tiles`'s in-process CQL2 figure.
pg_exec_ms=$(python3 - "$pgport" <<'EOF2'
import json, random, subprocess, sys
rng = random.Random(5)
qs = []
for _ in range(200):
    lon, lat = 113.2856 + rng.random() * 0.6688, 34.474 + rng.random() * 0.552
    p = f"ST_SetSRID(ST_MakePoint({lon}, {lat}), 4326)"
    qs.append(f"EXPLAIN (ANALYZE, FORMAT JSON) SELECT json_build_object('type', 'FeatureCollection', 'features', "
              f"coalesce(json_agg(ST_AsGeoJSON(r.*)::json), '[]')) FROM (SELECT id, name, name_en, status, class, width_m, geom "
              f"FROM roads WHERE geom && ST_Expand({p}, 0.0066) AND ST_DWithin(geom::geography, {p}::geography, 500) "
              f"AND status = 'planned' LIMIT 100) r;")
# One session, as pgbench's clients are; its first queries load PostGIS's
# caches (10 ms), so the first ten are left out.
out = subprocess.run(["psql", "-q", "-At", "-h", "127.0.0.1", "-p", sys.argv[1], "-U", "postgres", "-d", "postgres"],
                     input="\n".join(qs), capture_output=True, text=True, check=True).stdout.strip()
dec, i, times = json.JSONDecoder(), 0, []
while i < len(out):
    v, i = dec.raw_decode(out, i)
    times.append(v[0]["Execution Time"])
    while i < len(out) and out[i] in "\n ":
        i += 1
print(f"{sum(times[10:]) / len(times[10:]):.3f}")
EOF2
)
# How many roads an answer holds on average (the same predicate both ways).
za_n=$(curl -s "http://127.0.0.1:$zaport/api/collections/roads/items?limit=100&filter=$(python3 -c "import urllib.parse;print(urllib.parse.quote(\"S_DWITHIN(geometry, POINT(113.62 34.75), 500) AND status = 'planned'\"))")" \
  | python3 -c "import json,sys; print(json.load(sys.stdin)['numberMatched'])")
pg_n=$("${psql[@]}" -Atc "select count(*) from roads where ST_DWithin(geom::geography, ST_SetSRID(ST_MakePoint(113.62, 34.75), 4326)::geography, 500) and status = 'planned'")

# Tile generation alone, in process, on both cores (the servers stopped so
# the bench has the machine): `cargo bench --bench tiles`'s two-thread
# figure over 2,000 random z14 tiles of the same extent (its own generator,
# the same distribution), set against Martin's from this run.
for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
ZONEATLAS_BENCH_SEGMENTS=$segments cargo bench -q --bench tiles -- nomatch > "$work/bench.log" 2>&1 || { cat "$work/bench.log"; exit 1; }
in_roads=$(grep -E "^z14 roads" "$work/bench.log" | awk '{print $5}')
in_all=$(grep -E "^z14 three" "$work/bench.log" | awk '{print $5}')

echo
echo "| workload ($segments-segment city, 2 cores) | zoneatlas | peer | ratio |"
echo "|---|---|---|---|"
echo "| uncached z14 roads tile, HTTP (tiles/s) | $za_roads | Martin $m_roads | $(ratio "$za_roads" "$m_roads") |"
echo "| uncached z14 tile, 3 line layers (tiles/s) | $za_all | Martin $m_all | $(ratio "$za_all" "$m_all") |"
echo "| uncached z14 roads tile, generated in process, two threads (tiles/s) | $in_roads | Martin $m_roads (HTTP) | $(ratio "$in_roads" "$m_roads") |"
echo "| uncached z14 tile, 3 line layers, in process (tiles/s) | $in_all | Martin $m_all (HTTP) | $(ratio "$in_all" "$m_all") |"
echo "| CQL2 S_DWITHIN 500 m + status, 100 roads as GeoJSON (req/s) | $za_cql | PostGIS $pg_cql | $(ratio "$za_cql" "$pg_cql") |"
echo "| the same CQL2 query, PostGIS execution time alone (EXPLAIN ANALYZE, one session, mean of 190) | see \`cargo bench --bench tiles\` | PostGIS $pg_exec_ms ms | |"
echo
echo "same answer at (113.62, 34.75): zoneatlas $za_n roads, PostGIS $pg_n roads"
