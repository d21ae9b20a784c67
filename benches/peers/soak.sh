#!/usr/bin/env bash
# Issue #29's soak: ten minutes of mixed reads, writes and event streams
# (benches/peers/soak.py: 4 writers creating and patching roads, 4 readers,
# 8 event streams) with wrk -t2 -c32 reading beside them, and kill -9 and a
# restart of the server every two minutes. Prints every acknowledged write
# lost (must be 0), the resident set before each kill, read p50/p99, and
# wrk's figures.
#
# Usage: bash benches/peers/soak.sh [SECONDS [KILL_EVERY]]
# Needs: wrk, python3 (apt-get install -y wrk). Not part of `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --release -q
secs=${1:-600}
every=${2:-120}
echo "== load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
python3 benches/peers/soak.py target/release/zoneatlas "$secs" "$every" &
soak=$!
sleep 5
cat > /tmp/za-soak-paths.lua <<'LUA'
local paths = {"/api/coverage?lon=113.530&lat=34.700", "/api/collections/roads/items?limit=50",
  "/api/tiles/WebMercatorQuad/14/6506/13358", "/api/collections/sites/items"}
local i = 0
request = function() i = i + 1; return wrk.format("GET", paths[i % #paths + 1]) end
LUA
if command -v wrk > /dev/null; then
  wrk -t2 -c32 -d"$((secs - 10))s" --latency -s /tmp/za-soak-paths.lua "http://127.0.0.1:${SOAK_PORT:-18555}" | grep -E "Requests/sec|Latency|99%|Socket errors|Non-2xx" || true
fi
wait "$soak"
