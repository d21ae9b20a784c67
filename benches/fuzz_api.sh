#!/usr/bin/env bash
# Fuzz every documented endpoint with schemathesis, generated from
# /api/openapi.json, and fail on any 5xx. Bounded: 60 examples per operation,
# loopback only. Usage: bash benches/fuzz_api.sh   (needs: pip install schemathesis)
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --profile dist -q
target/dist/zoneatlas --addr 127.0.0.1:18090 > /tmp/zoneatlas-fuzz.log 2>&1 &
pid=$!
trap 'kill $pid' EXIT
for _ in $(seq 50); do curl -sf http://127.0.0.1:18090/health > /dev/null && break; sleep 0.1; done
st run http://127.0.0.1:18090/api/openapi.json --checks not_a_server_error --max-examples 60 --workers 2
