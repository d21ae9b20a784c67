#!/usr/bin/env bash
# Scale figures outside criterion: write the 1M-segment synthetic city, then
# time `zoneatlas check` on it (load + validate + index) with its peak memory,
# and drive the HTTP server with wrk on loopback (bounded: 10 s per run).
# Usage: bash benches/load.sh   (needs: wrk and GNU time, `apt-get install -y wrk time`)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --profile dist -q
bin=target/dist/zoneatlas
dir=target/synth-1m
[ -f "$dir/layers.toml" ] || "$bin" synth --segments 1000000 --out "$dir"
du -sh "$dir"
for run in 1 2 3; do
  /usr/bin/time -f "load+index: %e s wall, %M KB max resident" "$bin" check --data "$dir" > /dev/null
done

if command -v wrk > /dev/null; then
  "$bin" serve --addr 127.0.0.1:18080 > /tmp/zoneatlas-load.log 2>&1 &
  pid=$!
  trap 'kill $pid' EXIT
  for _ in $(seq 50); do curl -sf http://127.0.0.1:18080/health > /dev/null && break; sleep 0.1; done
  echo "wrk: one page of 100 roads (sample data)"
  wrk -t2 -c32 -d10s "http://127.0.0.1:18080/api/collections/roads/items?limit=100" | grep -E "Requests/sec|Latency|Transfer"
  echo "wrk: point coverage, all six services (sample data)"
  wrk -t2 -c32 -d10s "http://127.0.0.1:18080/api/coverage?lon=113.52&lat=34.70" | grep -E "Requests/sec|Latency"
  echo "wrk: zone shares (cached)"
  wrk -t2 -c32 -d5s "http://127.0.0.1:18080/api/coverage/zone" | grep -E "Requests/sec|Latency"
  echo "wrk: bbox query (sample data)"
  wrk -t2 -c32 -d10s "http://127.0.0.1:18080/api/collections/pipelines/items?bbox=113.52,34.69,113.53,34.70" | grep -E "Requests/sec|Latency"
fi
