# Shared by the peer scripts (sourced): a throwaway PostgreSQL 15 + PostGIS 3
# cluster on 127.0.0.1:$pgport in a temporary directory, removed on exit
# with every process the script started (append their pids to `pids`).
# Run as root (the cluster then runs as the postgres user) or as a user who
# may run initdb.
pgbin=/usr/lib/postgresql/15/bin
work=$(mktemp -d /tmp/za-peers.XXXXXX)
chmod 755 "$work"
pids=()
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2> /dev/null || true; done
  as_pg "$pgbin/pg_ctl" -D "$work/pg" stop -m fast > /dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
[ "$(id -u)" = 0 ] && chown postgres "$work"

# start_pg PORT: initialise and start the cluster, with PostGIS.
start_pg() {
  pgport=$1
  echo "== PostGIS: a throwaway cluster on 127.0.0.1:$pgport"
  as_pg "$pgbin/initdb" -D "$work/pg" -A trust -U postgres > /dev/null
  as_pg "$pgbin/pg_ctl" -D "$work/pg" -l "$work/pg.log" -w start \
    -o "-p $pgport -k $work -c listen_addresses=127.0.0.1 -c shared_buffers=1GB -c max_connections=100 -c jit=off" > /dev/null
  psql=(psql -q -h 127.0.0.1 -p "$pgport" -U postgres -d postgres)
  "${psql[@]}" -c "create extension postgis"
}

# Requests per second from wrk's output; transactions per second from pgbench's.
rate() { grep -E "^Requests/sec" | awk '{print $2}'; }
tps() { grep -E "^tps" | awk '{print $3}'; }
# median X...: the middle of the numbers (the mean of the two middle ones).
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR]=$1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }
ratio() { python3 -c "print(f'{float($1) / float($2):.2f}x')"; }

# write_get_lua FILE: a wrk script cycling through the paths listed in the
# file named by $LINES.
write_get_lua() {
  cat > "$1" <<'LUA'
local paths, i = {}, 0
for line in io.lines(os.getenv("LINES")) do paths[#paths + 1] = line end
request = function()
  i = i % #paths + 1
  return wrk.format("GET", paths[i])
end
LUA
}

# small_zone SRC DEST: DEST holds SRC's layers (linked) with its zone cut to
# a 5 km x 5 km square at the centre, a development zone's size. The
# start-up zone computation over a whole 10M city takes many minutes of
# both cores and would share them with what is measured; a small zone is
# done in a second at any size.
small_zone() {
  mkdir -p "$2"
  for f in "$1"/*; do [ "$(basename "$f")" = zone.geojson ] || ln -sf "$f" "$2/"; done
  python3 - "$1/zone.geojson" "$2/zone.geojson" <<'PY'
import json, math, sys
z = json.load(open(sys.argv[1]))
ring = z["features"][0]["geometry"]["coordinates"][0]
x = (min(p[0] for p in ring) + max(p[0] for p in ring)) / 2
y = (min(p[1] for p in ring) + max(p[1] for p in ring)) / 2
dx, dy = 2500 / (111_320 * math.cos(math.radians(y))), 2500 / 110_574
z["features"][0]["geometry"]["coordinates"] = [[[x - dx, y - dy], [x + dx, y - dy], [x + dx, y + dy], [x - dx, y + dy], [x - dx, y - dy]]]
json.dump(z, open(sys.argv[2], "w"))
PY
}
