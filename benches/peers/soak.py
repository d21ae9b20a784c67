#!/usr/bin/env python3
"""Soak: mixed reads, writes and event streams against one zoneatlas server
for DURATION seconds, with `kill -9` and a restart every KILL_EVERY seconds.

At the end: every write the server acknowledged (201 for a create, 200 for
a patch) is present with its acknowledged value (or a later one whose
answer the kill cut off); the resident set size sampled before each kill,
to see it stays flat; read latency percentiles (p50, p99) from the reader
threads, whose requests during a restart count as errors, not latencies.

Usage: python3 benches/peers/soak.py BINARY [DURATION [KILL_EVERY]]
(benches/peers/soak.sh builds the binary and runs this with wrk beside it.)
Python standard library only.
"""
import http.client
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time

BIN = sys.argv[1]
DURATION = float(sys.argv[2]) if len(sys.argv) > 2 else 600
KILL_EVERY = float(sys.argv[3]) if len(sys.argv) > 3 else 120
PORT = int(os.environ.get("SOAK_PORT", "18555"))
WRITERS, READERS, STREAMS = 4, 4, 8

work = tempfile.mkdtemp(prefix="za-soak.")
store = os.path.join(work, "zoneatlas.gpkg")
stop = threading.Event()
lock = threading.Lock()
acked = {}       # id -> last acknowledged name
attempted = {}   # id -> names sent since the last acknowledgement
latencies, errors, events = [], {}, [0]
rss_before_kill = []
server = [None]


def start():
    log = open(os.path.join(work, "server.log"), "ab")
    p = subprocess.Popen([BIN, "serve", "--store", store, "--addr", f"127.0.0.1:{PORT}"],
                         stdout=log, stderr=log)
    server[0] = p
    for _ in range(600):
        try:
            if request("GET", "/health")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.05)
    sys.exit("the server did not come up")


def request(method, path, body=None, headers=None, timeout=10):
    c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=timeout)
    try:
        c.request(method, path, body=body, headers=headers or {})
        r = c.getresponse()
        return r.status, r.read(), r.getheader("ETag")
    finally:
        c.close()


def rss_kb(pid):
    try:
        for line in open(f"/proc/{pid}/status"):
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        return None


def writer(n, token):
    auth = {"Authorization": f"Bearer {token}"}
    k = 0
    while not stop.is_set():
        k += 1
        fid = f"SOAK-{n}-{k}"
        lon = 113.50 + random.random() * 0.08
        lat = 34.67 + random.random() * 0.05
        feature = {"type": "Feature", "id": fid,
                   "geometry": {"type": "LineString", "coordinates": [[lon, lat], [lon + 0.001, lat]]},
                   "properties": {"name": "v0", "name_en": "soak", "status": "planned",
                                  "class": "branch", "width_m": 12, "source": "soak"}}
        with lock:
            attempted[fid] = ["v0"]
        try:
            status, _, _ = request("POST", "/api/collections/roads/items", json.dumps(feature),
                                   {**auth, "Content-Type": "application/geo+json"})
        except OSError:
            continue
        if status != 201:
            continue
        with lock:
            acked[fid], attempted[fid] = "v0", []
        # Then a few patches, each guarded by the ETag just read.
        for v in range(1, 4):
            if stop.is_set():
                break
            try:
                status, _, etag = request("GET", f"/api/collections/roads/items/{fid}")
                if status != 200:
                    break
                name = f"v{v}"
                with lock:
                    attempted[fid].append(name)
                status, _, _ = request("PATCH", f"/api/collections/roads/items/{fid}",
                                       json.dumps({"properties": {"name": name}}),
                                       {**auth, "If-Match": etag,
                                        "Content-Type": "application/merge-patch+json"})
                if status == 200:
                    with lock:
                        acked[fid], attempted[fid] = name, []
            except OSError:
                break


READS = ["/api/coverage?lon=113.530&lat=34.700", "/api/collections/roads/items?limit=50",
         "/api/tiles/WebMercatorQuad/14/6506/13358", "/api/coverage?lon=113.570&lat=34.705&scenario=planned",
         "/api/stats"]


def reader():
    while not stop.is_set():
        path = random.choice(READS)
        t = time.perf_counter()
        try:
            status, _, _ = request("GET", path)
        except OSError:
            status = None
        if status == 200:
            with lock:
                latencies.append(time.perf_counter() - t)
        else:
            with lock:
                key = f"{status} {path.split('?')[0]}"
                errors[key] = errors.get(key, 0) + 1
            time.sleep(0.05)


def streamer():
    while not stop.is_set():
        try:
            c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=15)
            c.request("GET", "/api/events")
            r = c.getresponse()
            if r.status != 200:
                time.sleep(0.5)
                continue
            while not stop.is_set():
                line = r.fp.readline()
                if not line:
                    break
                if line.startswith(b"event:"):
                    with lock:
                        events[0] += 1
        except OSError:
            time.sleep(0.2)


def main():
    start()
    token = subprocess.run([BIN, "token", "add", "--store", store, "--role", "editor", "--name", "soak"],
                           capture_output=True, text=True, check=True).stdout.strip().splitlines()[-1]
    time.sleep(1.5)  # tokens take effect within a second
    threads = [threading.Thread(target=writer, args=(n, token)) for n in range(WRITERS)]
    threads += [threading.Thread(target=reader) for _ in range(READERS)]
    threads += [threading.Thread(target=streamer) for _ in range(STREAMS)]
    for t in threads:
        t.daemon = True
        t.start()
    began = time.time()
    kills = 0
    while time.time() - began < DURATION:
        time.sleep(min(KILL_EVERY, DURATION - (time.time() - began)))
        if time.time() - began >= DURATION:
            break
        p = server[0]
        rss_before_kill.append(rss_kb(p.pid))
        p.send_signal(signal.SIGKILL)
        p.wait()
        kills += 1
        start()
    stop.set()
    rss_before_kill.append(rss_kb(server[0].pid))
    time.sleep(1)
    # Every acknowledged write, read back after one more kill and restart.
    server[0].send_signal(signal.SIGKILL)
    server[0].wait()
    start()
    stored, offset = {}, 0
    while True:
        _, body, _ = request("GET", f"/api/collections/roads/items?limit=10000&offset={offset}&source=soak",
                             timeout=60)
        page = json.loads(body)["features"]
        stored.update((f["id"], f["properties"]["name"]) for f in page)
        if len(page) < 10000:
            break
        offset += len(page)
    lost, wrong = [], []
    for fid, name in acked.items():
        if fid not in stored:
            lost.append(fid)
        elif stored[fid] != name and stored[fid] not in attempted.get(fid, []):
            wrong.append((fid, name, stored[fid]))
    server[0].terminate()
    server[0].wait()
    lat = sorted(latencies)
    pct = lambda q: round(lat[int(len(lat) * q)] * 1000, 1) if lat else None
    report = {
        "seconds": DURATION, "kills": kills, "acknowledged_writes": len(acked),
        "lost": len(lost), "wrong_value": len(wrong), "reads": len(lat), "read_errors": errors,
        "read_ms": {"p50": pct(0.5), "p99": pct(0.99)}, "events_received": events[0],
        "rss_kb_before_each_kill": rss_before_kill,
        "load_average": os.getloadavg(),
    }
    print(json.dumps(report, indent=1))
    if lost or wrong:
        print("LOST:", lost[:10], "WRONG:", wrong[:10])
        sys.exit(1)


main()
