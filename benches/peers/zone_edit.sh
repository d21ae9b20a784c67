#!/usr/bin/env bash
# The zone after an edit, on the peer benchmark's million single-segment
# roads (benches/peers/make_roads.py, 11,167 km², the road service's 100 m
# reach): the store made from the folder, the zone computed at start-up (its
# time and the process's peak memory), then one road's status patched and
# the time from the PATCH to the zone answering again (cells kept from the
# previous answer where the edit did not reach).
#
# Usage: bash benches/peers/zone_edit.sh      (about two minutes on 2 cores)
# Needs: python3, curl. Prints its figures; nothing is asserted.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -q
bin=$PWD/target/release/zoneatlas
data=$PWD/target/peers-1m
[ -f "$data/coverage.toml" ] || python3 benches/peers/make_roads.py "$data"
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null || true; rm -rf "$work"' EXIT
echo "load average before: $(cut -d' ' -f1 /proc/loadavg)"
port=${PORT:-7830}
"$bin" serve --data "$data" --store "$work/city.gpkg" --addr "127.0.0.1:$port" > "$work/serve.log" 2>&1 &
pid=$!
base="http://127.0.0.1:$port"
code() { curl -s -o /dev/null -w '%{http_code}' "$1" 2>/dev/null || true; }
until [ "$(code "$base/health")" = 200 ]; do sleep 0.5; done
t0=$(date +%s.%N)
until [ "$(code "$base/api/coverage/zone?scenario=current")" = 200 ]; do sleep 0.5; done
t1=$(date +%s.%N)
echo "zone (current) after start-up: $(echo "$t1 - $t0" | bc) s"
echo "peak resident memory then: $(grep VmHWM /proc/$pid/status | awk '{print $2 / 1024}') MB"
token=$("$bin" token add --store "$work/city.gpkg" --role editor --name bench | tail -1)
id=$(curl -s "$base/api/collections/roads/items?limit=1" | python3 -c "import json,sys; print(json.load(sys.stdin)['features'][0]['id'])")
etag=$(curl -s -D - -o /dev/null "$base/api/collections/roads/items/$id" | grep -i '^etag' | tr -d '\r' | awk '{print $2}')
t2=$(date +%s.%N)
curl -s -o /dev/null -X PATCH -H "Authorization: Bearer $token" -H "If-Match: $etag" \
  -H 'Content-Type: application/merge-patch+json' -d '{"properties":{"status":"planned"}}' \
  "$base/api/collections/roads/items/$id"
until [ "$(code "$base/api/coverage/zone?scenario=current")" = 200 ]; do sleep 0.02; done
t3=$(date +%s.%N)
echo "one road edited, PATCH sent to the zone answering again: $(echo "$t3 - $t2" | bc) s"
grep -o 'zone coverage computed.*' "$work/serve.log" | sed 's/^/  /'
