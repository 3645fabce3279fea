#!/usr/bin/env bash
# Load figures of docs/benchmarks.md: starts attestd on 127.0.0.1 (embedded
# store, embedded dev chain; and Redis with AOF appendfsync always), drives
# it with attestd-load, stops what it started (by PID) and prints each
# report. Every load is bounded by a request count and a duration.
#
#   cmd/attestd-load/bench.sh quick   # make bench: seconds per load
#   cmd/attestd-load/bench.sh full    # make bench-full: 60 s loads, 10M-fingerprint read store
#
# Needs bin/attestd and bin/attestd-load (make build, go build -o bin/attestd-load ./cmd/attestd-load)
# and redis-server for the Redis rows (skipped if missing).
set -euo pipefail
mode=${1:-quick}
root=$(cd "$(dirname "$0")/../.." && pwd)
bin=$root/bin
work=$(mktemp -d /tmp/attestd-bench.XXXXXX)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT

if [ "$mode" = full ]; then
	DUR=60s; ONE_REQ=2000000; K_REQ=20000; READ_POP=10000000; READ_REQ=2000000; CONFIRM_REQ=200
else
	DUR=10s; ONE_REQ=50000; K_REQ=500; READ_POP=200000; READ_REQ=100000; CONFIRM_REQ=20
fi

port=18180
# start_attestd NAME EXTRA-ARGS...: serve --dev on the next port; sets URL and KEY.
start_attestd() {
	local name=$1; shift
	port=$((port + 1))
	local chain=$((port + 1000))
	"$bin/attestd" serve --dev --data-dir "$work/$name" --listen 127.0.0.1:$port --chain-listen 127.0.0.1:$chain \
		--rate-limit 0 --log-level warn "$@" >"$work/$name.log" 2>&1 &
	pids+=($!)
	URL=http://127.0.0.1:$port
	for _ in $(seq 100); do
		curl -fs "$URL/readyz" >/dev/null 2>&1 && break
		sleep 0.2
	done
	KEY=$(cat "$work/$name/dev-api-key")
}

load() { echo "## attestd-load ${*//$KEY/\$KEY}"; "$bin/attestd-load" "$@"; echo; }

echo "# $(date -u +%FT%TZ) commit $(git -C "$root" rev-parse --short HEAD) mode $mode"
echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) x $(nproc), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo

# Embedded store: ingest at 1000 and at 1 fingerprint per request.
start_attestd bolt --max-pending 0
load submit --server "$URL" --api-key "$KEY" --conns 32 --per-request 1000 --requests $K_REQ --duration $DUR --check
load submit --server "$URL" --api-key "$KEY" --conns 64 --per-request 1 --requests $ONE_REQ --duration $DUR --check
# 202 → confirmed (batch interval 1 s, 1 confirmation, mined on demand).
start_attestd confirm --batch-interval 1s --chain-poll 200ms
load confirm --server "$URL" --api-key "$KEY" --requests $CONFIRM_REQ --rate 20 --duration 2m
grep -h "gas" "$work/confirm.log" | tail -3 || true
curl -fs "$URL/metrics" | grep -E '^attestd_(anchor_gas_used|gas)' || true

# Proof reads: a store of READ_POP fingerprints, sealed in batches of up to 1M and anchored.
start_attestd reads --max-pending 0 --max-batch-size 1000000 --batch-interval 5s
"$bin/attestd-load" submit --server "$URL" --api-key "$KEY" --conns 32 --per-request 1000 \
	--requests $((READ_POP / 1000)) --duration 60m --run-id reads >/dev/null
for _ in $(seq 600); do # until everything is sealed and confirmed (bounded: 10 min)
	n=$(curl -fs "$URL/metrics" | awk '/^attestd_pending_fingerprints /{print $2}')
	[ "${n%.*}" = 0 ] && break
	sleep 1
done
sleep 10
load read --server "$URL" --conns 64 --run-id reads --population $READ_POP --requests $READ_REQ --duration $DUR --check

# Redis with AOF appendfsync always (what "202 means durable" needs).
if command -v redis-server >/dev/null; then
	redis-server --port 16379 --bind 127.0.0.1 --appendonly yes --appendfsync always --save "" \
		--dir "$work" --daemonize no >"$work/redis.log" 2>&1 &
	pids+=($!)
	sleep 1
	start_attestd redis --store redis://127.0.0.1:16379/0 --max-pending 0
	load submit --server "$URL" --api-key "$KEY" --conns 32 --per-request 1000 --requests $K_REQ --duration $DUR --check
	load submit --server "$URL" --api-key "$KEY" --conns 64 --per-request 1 --requests $ONE_REQ --duration $DUR --check
fi
