#!/usr/bin/env bash
# The write workloads of issue #31 on the peer benchmark's million
# single-segment roads (benches/peers/make_roads.py), zoneatlas on a
# GeoPackage store against a throwaway PostgreSQL 15 + PostGIS 3 cluster
# holding the same roads, in one run:
#
#   edit       one road's status changed, 200 times in turn: zoneatlas PATCH
#              (durable, visible when it answers) and the server's CPU per
#              edit; PostgreSQL single-row UPDATE by pgbench -c1.
#   creates    durable creates by 32 clients: zoneatlas POST of a new road
#              (wrk -t2 -c32); PostgreSQL single-row INSERT of a road by
#              pgbench -c32 -j2 (synchronous_commit on, as zoneatlas's
#              COMMIT is).
#
# zoneatlas runs once its start-up zone computations are done, so they do
# not share the cores with the writes. SECS=10 seconds per workload.
# Usage: bash benches/peers/writes.sh  (about four minutes on 2 cores)
# Needs: wrk, gdal-bin, postgresql-15-postgis-3, python3, curl.
set -euo pipefail
cd "$(dirname "$0")/../.."
source benches/peers/lib.sh
cargo build --profile dist -q
bin=$PWD/target/dist/zoneatlas
data=$PWD/target/peers-1m
[ -f "$data/coverage.toml" ] || python3 benches/peers/make_roads.py "$data"
secs=${SECS:-10}
echo "load average before: $(cut -d' ' -f1 /proc/loadavg)"

start_pg "${PGPORT:-55433}"
ogr2ogr -f PostgreSQL "PG:host=127.0.0.1 port=$pgport user=postgres dbname=postgres" "$data/roads.geojson" \
  -nln roads -lco GEOMETRY_NAME=geom -lco SPATIAL_INDEX=GIST -lco FID=fid -nlt LINESTRING -gt 65536
"${psql[@]}" -c "vacuum analyze roads"
cat > "$work/update.sql" <<'SQL'
\set id random(1, 1000000)
UPDATE roads SET status = 'planned' WHERE fid = :id;
SQL
cat > "$work/insert.sql" <<'SQL'
\set id random(1, 1000000)
INSERT INTO roads (geom, name, status)
  SELECT geom, name, 'planned' FROM roads WHERE fid = :id;
SQL
chmod 644 "$work"/*.sql
pg_update=$(pgbench -n -h 127.0.0.1 -p "$pgport" -U postgres -c1 -j1 -T "$secs" -f "$work/update.sql" postgres | tps)
pg_insert=$(pgbench -n -h 127.0.0.1 -p "$pgport" -U postgres -c32 -j2 -T "$secs" -f "$work/insert.sql" postgres | tps)
as_pg "$pgbin/pg_ctl" -D "$work/pg" stop -m fast > /dev/null

port=${PORT:-7831}
"$bin" serve --data "$data" --store "$work/city.gpkg" --addr "127.0.0.1:$port" > "$work/serve.log" 2>&1 &
pid=$!
pids+=("$pid")
base="http://127.0.0.1:$port"
code() { curl -s -o /dev/null -w '%{http_code}' "$1" 2> /dev/null || true; }
until [ "$(code "$base/health")" = 200 ]; do sleep 0.5; done
for sc in current planned; do
  until [ "$(code "$base/api/stats?scenario=$sc")" = 200 ]; do sleep 1; done
done
token=$("$bin" token add --store "$work/city.gpkg" --role editor --name bench | tail -1)
cpu() { awk '{print $14 + $15}' "/proc/$pid/stat"; }
ids=$(curl -s "$base/api/collections/roads/items?limit=200" | python3 -c "import json,sys; print(' '.join(str(f['id']) for f in json.load(sys.stdin)['features']))")
# Each road's ETag first, so the server CPU counted is the PATCHes' alone.
etags=()
for id in $ids; do
  etags+=("$(curl -s -D - -o /dev/null "$base/api/collections/roads/items/$id" | grep -i '^etag' | tr -d '\r' | awk '{print $2}')")
done
before=$(cpu)
times=()
k=0
for id in $ids; do
  times+=("$(curl -s -o /dev/null -w '%{time_total}' -X PATCH -H "Authorization: Bearer $token" -H "If-Match: ${etags[$k]}" \
    -H 'Content-Type: application/merge-patch+json' -d '{"properties":{"status":"planned"}}' "$base/api/collections/roads/items/$id")")
  k=$((k + 1))
done
after=$(cpu)
n=$(echo "$ids" | wc -w)
cpu_ms=$(python3 -c "print(f'{($after - $before) * 10 / $n:.1f}')")
edit_ms=$(printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR]=$1} END {printf "%.1f", a[int((NR+1)/2)] * 1000}')
cat > "$work/create.lua" <<LUA
local threads = 0
function setup(thread)
  threads = threads + 1
  thread:set("tid", threads)
end
local n = 0
request = function()
  local id = tostring(tid)
  n = n + 1
  local x = 113.2 + (n % 1000) * 0.0009
  local body = '{"type":"Feature","id":"W-' .. id .. '-' .. n .. '","geometry":{"type":"LineString","coordinates":[[' .. x .. ',34.5],[' .. (x + 0.001) .. ',34.5]]},"properties":{"name":"w","status":"planned"}}'
  return wrk.format("POST", "/api/collections/roads/items", {["Content-Type"] = "application/geo+json", ["Authorization"] = "Bearer $token"}, body)
end
LUA
wrk -t2 -c32 -d"${secs}s" -s "$work/create.lua" "$base" > "$work/wrk.out"
za_create=$(rate < "$work/wrk.out")
refused=$(grep -E "Non-2xx" "$work/wrk.out" || echo "every create answered 201")
echo
echo "| workload | zoneatlas | PostgreSQL | ratio |"
echo "|---|---|---|---|"
fmt() { python3 -c "print(f'{float($1):,.0f}')"; }
echo "| one edit at a time (PATCH, visible when it answers / UPDATE) | ${edit_ms} ms median, ${cpu_ms} ms server CPU each | $(python3 -c "print(f'{1000 / float($pg_update):.2f}')") ms each ($(fmt "$pg_update") tps) | $(python3 -c "print(f'{1000 / float($pg_update) / float($edit_ms):.3f}x')") |"
echo "| durable creates, 32 clients | $(fmt "$za_create") /s | $(fmt "$pg_insert") /s | $(python3 -c "print(f'{float($za_create) / float($pg_insert):.3f}x')") |"
echo "creates: $refused"
