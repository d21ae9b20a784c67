#!/usr/bin/env bash
# Issue #13's benchmarks: zoneatlas replicas on one PostGIS database (a
# throwaway PostgreSQL 15 + PostGIS 3 cluster), on the peer data set of one
# million random single-segment roads (benches/peers/make_roads.py) with a
# small zone (10 km x 10 km, so start-up zone coverage does not load the
# cores while we measure).
#
#   fill      the first server fills the empty database from the folder (COPY).
#   start     a replica starting on the filled database: start to /health,
#             peak memory (three starts).
#   reads     GET /api/coverage?lon=&lat= (nearest road), wrk -t2 -c32 for
#             SECS seconds against one replica, then against two (one wrk
#             -t1 -c16 each, at once; the sum).
#   latency   100 writes a second through replica A for 10 s (ten writers,
#             ten a second each), then 300 (thirty writers, as issue #31
#             asks); replica B polled for each revision: from the PATCH sent
#             (an upper bound of commit to visible) and from A's answer (a
#             lower bound) to visible on B.
#
# Usage: bash benches/peers/replicas.sh
# Needs: wrk, postgresql-15-postgis-3, python3 (apt-get install -y wrk
# postgresql-15-postgis-3 postgresql-client). Not part of `cargo test`.
set -euo pipefail
cd "$(dirname "$0")/../.."
cargo build --profile dist -q
bin=$PWD/target/dist/zoneatlas
data=$PWD/target/peers-1m
[ -f "$data/coverage.toml" ] || python3 benches/peers/make_roads.py "$data"
secs=${SECS:-15}
source benches/peers/lib.sh
start_pg 53021
url=postgresql://postgres@127.0.0.1:53021/postgres

city=$work/city
mkdir -p "$city"
cp "$data/layers.toml" "$data/coverage.toml" "$city/"
ln -s "$data/roads.geojson" "$city/roads.geojson"
cat > "$city/zone.geojson" <<'JSON'
{"type":"FeatureCollection","features":[{"type":"Feature","id":"zone","geometry":{"type":"Polygon","coordinates":[[[113.60,34.70],[113.71,34.70],[113.71,34.79],[113.60,34.79],[113.60,34.70]]]},"properties":{"name":"bench zone","kind":"zone"}}]}
JSON

# serve PORT [args...]: start a server, wait for /health; sets $spid, $secs_to_health.
serve() {
  local port=$1; shift
  local t0; t0=$(date +%s.%N)
  RUST_LOG=info "$bin" serve --store "$url" --addr 127.0.0.1:$port "$@" > "$work/za-$port.log" 2>&1 &
  spid=$!
  pids+=($spid)
  until curl -sf -o /dev/null http://127.0.0.1:$port/health; do
    kill -0 $spid 2> /dev/null || { cat "$work/za-$port.log"; exit 1; }
    sleep 0.05
  done
  secs_to_health=$(echo "$(date +%s.%N) - $t0" | bc)
}

echo "== fill the database from the folder (1M features)"
serve 53031 --data "$city"
fill=$secs_to_health
kill $spid; wait $spid 2> /dev/null || true

echo "== a replica starting on the filled database"
starts=()
for i in 1 2 3; do
  serve 53031
  starts+=("$secs_to_health s, $(( $(awk '/VmHWM/{print $2}' /proc/$spid/status) / 1024 )) MB")
  kill $spid; wait $spid 2> /dev/null || true
done

echo "== read throughput, one replica then two"
python3 - "$work" <<'PY'
import random, sys
rng = random.Random(13)
with open(f"{sys.argv[1]}/near.txt", "w") as f:
    for _ in range(10_000):
        f.write(f"/api/coverage?lon={rng.uniform(113.12, 114.18):.7f}&lat={rng.uniform(34.32, 35.28):.7f}\n")
PY
write_get_lua "$work/get.lua"
serve 53031; a=$spid
serve 53032; b=$spid
sleep 2
curl -sf -o /dev/null "http://127.0.0.1:53031$(head -1 "$work/near.txt")" || { echo "the nearest query fails"; exit 1; }
LINES=$work/near.txt wrk -t2 -c32 -d"${secs}s" -s "$work/get.lua" http://127.0.0.1:53031 > "$work/w0"
! grep -q "Non-2xx" "$work/w0" || { cat "$work/w0"; exit 1; }
one=$(awk '/^Requests\/sec/{print $2}' "$work/w0")
LINES=$work/near.txt wrk -t1 -c16 -d"${secs}s" -s "$work/get.lua" http://127.0.0.1:53031 > "$work/w1" &
LINES=$work/near.txt wrk -t1 -c16 -d"${secs}s" -s "$work/get.lua" http://127.0.0.1:53032 > "$work/w2"
wait %% 2> /dev/null || true
sleep 1
! grep -q "Non-2xx" "$work/w1" "$work/w2" || { cat "$work/w1" "$work/w2"; exit 1; }
two=$(awk '/^Requests\/sec/{s += $2} END {print s}' "$work/w1" "$work/w2")

echo "== notification to visible, 100 writes a second for 10 s"
cat > "$work/latency.py" <<'PY'
import http.client, json, sys, threading, time
# WRITERS writers (ten unless given), each patching its own road ten times a
# second (100 writes/s for ten, batched by A as concurrent writes are); B
# polled for its revision.
token, pa, pb, idfmt = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
writers = int(sys.argv[5]) if len(sys.argv) > 5 else 10
done = [0]
seen, sent, answered, stop = {}, {}, {}, threading.Event()
lock = threading.Lock()
def poll():
    c = http.client.HTTPConnection("127.0.0.1", pb)
    while not stop.is_set():
        c.request("GET", "/health")
        rev = json.loads(c.getresponse().read())["revision"]
        seen.setdefault(rev, time.perf_counter())
        time.sleep(0.001)  # a poll a millisecond or so, not a busy loop
def write(w, start):
    c = http.client.HTTPConnection("127.0.0.1", pa)
    fid = idfmt.format(w + 1)
    for i in range(100):
        time.sleep(max(0.0, start + i / 10 + w / (10 * writers) - time.perf_counter()))
        c.request("GET", f"/api/collections/roads/items/{fid}")
        r = c.getresponse(); r.read(); etag = r.getheader("etag")
        t0 = time.perf_counter()
        c.request("PATCH", f"/api/collections/roads/items/{fid}", json.dumps({"properties": {"name": f"{fid}-{i}"}}),
                  {"Authorization": f"Bearer {token}", "If-Match": etag, "Content-Type": "application/merge-patch+json"})
        r = c.getresponse(); r.read()
        t1 = time.perf_counter()
        if r.status == 200:
            rev = int(r.getheader("zoneatlas-revision"))
            with lock:
                done[0] += 1
                sent[rev] = min(sent.get(rev, t0), t0)
                answered[rev] = min(answered.get(rev, t1), t1)
t = threading.Thread(target=poll); t.start()
start = time.perf_counter() + 0.1
ws = [threading.Thread(target=write, args=(w, start)) for w in range(writers)]
for x in ws: x.start()
for x in ws: x.join()
end = time.perf_counter()
time.sleep(1); stop.set(); t.join()
revs = sorted(seen)
def visible(k):
    # The first poll at which B was at revision k or later.
    return min((seen[r] for r in revs if r >= k), default=None)
up = sorted((visible(k) - v) * 1000 for k, v in sent.items() if visible(k) is not None)
low = sorted((visible(k) - v) * 1000 for k, v in answered.items() if visible(k) is not None)
missing = sum(1 for k in sent if visible(k) is None)
q = lambda l, f: l[min(len(l) - 1, int(len(l) * f))]
print(f"{done[0]} writes in {len(sent)} commits in {end - start:.1f} s ({done[0] / (end - start):.0f} writes/s); "
      f"PATCH sent to visible on B: median {q(up, .5):.0f} ms, p95 {q(up, .95):.0f} ms, max {up[-1]:.0f} ms; "
      f"A's answer to visible on B: median {q(low, .5):.0f} ms, p95 {q(low, .95):.0f} ms; {missing} never visible")
PY
token=$("$bin" token add --store "$url" --role editor --name bench | tail -1)
latency_city=$(python3 "$work/latency.py" "$token" 53031 53032 'r{}')
latency_city_300=$(python3 "$work/latency.py" "$token" 53031 53032 'r{}' 30)
kill $a $b; wait $a $b 2> /dev/null || true
# The same on the sample (297 features), in a second database: what the
# mechanism itself costs when a snapshot is cheap to rebuild.
"${psql[@]}" -c "create database sample"
surl=postgresql://postgres@127.0.0.1:53021/sample
url=$surl serve 53033 --data geodata; a=$spid
url=$surl serve 53034; b=$spid
token=$("$bin" token add --store "$surl" --role editor --name bench | tail -1)
latency_sample=$(python3 "$work/latency.py" "$token" 53033 53034 'R-{:03d}')
echo
echo "| what | figure |"
echo "|---|---|"
echo "| fill an empty database from the folder, 1M features (first start, to /health) | ${fill} s |"
for s in "${starts[@]}"; do echo "| a replica starting on it, to /health | $s |"; done
echo "| nearest road over HTTP, one replica (wrk -t2 -c32) | $one req/s |"
echo "| the same, two replicas on the same two cores (two wrk -t1 -c16) | $two req/s |"
echo "| commit on A to visible on B, 100 writes/s, 1M-feature roads | $latency_city |"
echo "| the same, 300 writes/s offered (30 writers) | $latency_city_300 |"
echo "| the same on the sample (297 features) | $latency_sample |"
