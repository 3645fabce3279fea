#!/usr/bin/env bash
# Load figures of docs/benchmarks.md: starts attestd on 127.0.0.1 (embedded
# store, embedded dev chain; and Redis with AOF appendfsync always), drives
# it with attestd-load, stops what it started (by PID) and prints each
# report. Every load is bounded by a request count and a duration.
#
#   cmd/attestd-load/bench.sh quick   # make bench: seconds per load
#   cmd/attestd-load/bench.sh full    # make bench-full: 60 s loads, 10M-fingerprint read store, then mem
#   cmd/attestd-load/bench.sh mem     # row 10 only: 10-minute RSS run, bytes per pending fingerprint
#   cmd/attestd-load/bench.sh reads   # row 6 only: fill a READ_POP store (default 10M), then read
#   cmd/attestd-load/bench.sh stamp   # row 20 only: stamp -r of a tree against find | xargs -P2 sha256sum
#   (environment: STAMP_SMALL (4 KiB files, default 100000), STAMP_BIG (100 MiB files, default 100), STAMP_RUNS (default 3))
#   (environment: READ_POP, FILL_DUR (fill bound, default 60m), READ_DUR, READ_WARM (default 10s),
#    READ_RATES (open-loop rates, default "10000 15000 20000"), RSS_DUR (default 10m), PENDING_N)
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

if [ "$mode" = full ] || [ "$mode" = mem ] || [ "$mode" = reads ]; then
	DUR=60s; ONE_REQ=2000000; K_REQ=20000; READ_POP=${READ_POP:-10000000}; READ_REQ=2000000; CONFIRM_REQ=200
	RSS_DUR=${RSS_DUR:-10m}; PENDING_N=${PENDING_N:-1000000}
else
	DUR=10s; ONE_REQ=50000; K_REQ=500; READ_POP=200000; READ_REQ=100000; CONFIRM_REQ=20
	RSS_DUR=30s; PENDING_N=20000
fi

# The open loops of the read rows size their request counts from READ_DUR:
# check it before anything starts.
case ${READ_DUR:-$DUR} in
*[0-9]s) ;;
*) echo "READ_DUR must be whole seconds, e.g. 30s" >&2; exit 2 ;;
esac

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
# load_cpu ARGS...: load, then the CPU time the last started attestd and the
# generator spent per answered request.
load_cpu() {
	local spid=${pids[-1]} s0 s1 g0 g1 out n rc=0
	s0=$(awk '{print $14 + $15}' "/proc/$spid/stat")
	g0=$(awk '{print $16 + $17}' "/proc/$$/stat") # CPU of this shell's finished children
	echo "## attestd-load ${*//$KEY/\$KEY}"
	out=$("$bin/attestd-load" "$@") || rc=$?
	echo "$out"
	s1=$(awk '{print $14 + $15}' "/proc/$spid/stat")
	g1=$(awk '{print $16 + $17}' "/proc/$$/stat")
	n=$(echo "$out" | awk '/^ok requests/ {print $3}')
	answered=${n:-0}
	if [ "${n:-0}" -gt 0 ]; then
		awk -v s=$((s1 - s0)) -v g=$((g1 - g0)) -v n="$n" -v hz="$(getconf CLK_TCK)" \
			'BEGIN {printf "CPU per answered request: attestd %.1f us, attestd-load %.1f us\n", s / hz * 1e6 / n, g / hz * 1e6 / n}'
	fi
	echo
	return $rc
}


# stamp_tree: STAMP_SMALL files of 4 KiB in folders of 1,000, and STAMP_BIG
# files of 100 MiB, all different; then, alternating, sha256sum of every
# file on 2 processes and `stamp -r` (hash on all cores, submit, write each
# .attest), the .attest files removed between runs. Warm page cache for both.
stamp_tree() { # DIR FILES SIZE-BYTES
	local dir=$1 n=$2 size=$3 i
	mkdir -p "$dir"
	if [ "$size" -le 65536 ]; then
		for ((i = 0; i < n; i += 1000)); do
			mkdir -p "$dir/d$((i / 1000))"
			head -c $((size * (n - i < 1000 ? n - i : 1000))) /dev/urandom | (cd "$dir/d$((i / 1000))" && split -b "$size" -a 3 -d - f)
		done
	else
		for ((i = 0; i < n; i++)); do head -c "$size" /dev/urandom >"$dir/f$i"; done
	fi
}
stamp_compare() { # LABEL DIR FILES BYTES
	local label=$1 dir=$2 n=$3 bytes=$4 r t0 t1
	cat "$dir"/*/* "$dir"/f* >/dev/null 2>&1 || true # warm the page cache
	for ((r = 1; r <= ${STAMP_RUNS:-3}; r++)); do
		t0=$(date +%s.%N)
		find "$dir" -type f ! -name '*.attest' -print0 | xargs -0 -P2 -n 1000 sha256sum >/dev/null
		t1=$(date +%s.%N)
		awk -v l="$label" -v t="$(echo "$t1 - $t0" | bc)" -v n="$n" -v b="$bytes" \
			'BEGIN {printf "%s sha256sum -P2  %6.2f s  %9.0f files/s  %7.1f MB/s\n", l, t, n / t, b / t / 1e6}'
		t0=$(date +%s.%N)
		ATTESTD_API_KEY=$KEY "$bin/attestd" stamp -r --server "$URL" --json "$dir" >"$work/stamp.json" 2>"$work/stamp.err"
		t1=$(date +%s.%N)
		awk -v l="$label" -v t="$(echo "$t1 - $t0" | bc)" -v n="$n" -v b="$bytes" \
			'BEGIN {printf "%s attestd stamp -r %6.2f s  %9.0f files/s  %7.1f MB/s\n", l, t, n / t, b / t / 1e6}'
		grep -q "\"stamped\": *$n\b" "$work/stamp.json" || { echo "stamp -r did not stamp all $n:"; cat "$work/stamp.json" "$work/stamp.err"; exit 1; }
		find "$dir" -name '*.attest' -delete
	done
}
if [ "$mode" = stamp ]; then
	echo "# $(date -u +%FT%TZ) commit $(git -C "$root" rev-parse --short HEAD) mode stamp, load average $(cut -d' ' -f1-3 /proc/loadavg)"
	start_attestd stamp --max-pending 0 --batch-interval 5s
	stamp_tree "$work/small" "${STAMP_SMALL:-100000}" 4096
	stamp_compare small "$work/small" "${STAMP_SMALL:-100000}" $((${STAMP_SMALL:-100000} * 4096))
	rm -rf "$work/small"
	stamp_tree "$work/big" "${STAMP_BIG:-100}" $((100 << 20))
	stamp_compare big "$work/big" "${STAMP_BIG:-100}" $((${STAMP_BIG:-100} * 100 << 20))
	exit 0
fi

echo "# $(date -u +%FT%TZ) commit $(git -C "$root" rev-parse --short HEAD) mode $mode"
echo "# $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2) x $(nproc), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo

metric() { curl -fs "$URL/metrics" | awk -v m="$1" '$1 == m {printf "%.0f", $2}'; }
# dbsize DIR: bytes of the embedded store's two files (index and ingest log).
dbsize() { stat -c %s "$1/attestd.db" "$1/attestd.db.log" 2>/dev/null | awk '{s += $1} END {print s + 0}'; }
kb() { awk -v f="$2:" '$1 == f {print $2}' "/proc/$1/status"; } # kb PID VmRSS
# sample_rss PID INTERVAL-SECONDS: one line per sample until killed.
sample_rss() {
	local t0=$SECONDS
	printf '%6s %10s %10s %10s %12s %12s %12s\n' t_s VmRSS_kB RssAnon_kB RssFile_kB heap_inuse_B bolt_files_B pending
	while kill -0 "$1" 2>/dev/null; do
		printf '%6d %10s %10s %10s %12s %12s %12s\n' $((SECONDS - t0)) "$(kb "$1" VmRSS)" "$(kb "$1" RssAnon)" "$(kb "$1" RssFile)" \
			"$(metric go_memstats_heap_inuse_bytes)" "$(dbsize "$work/$name_rss")" "$(metric attestd_pending_fingerprints)"
		sleep "$2"
	done
}

if [ "$mode" = quick ] || [ "$mode" = full ]; then
# Embedded store: ingest at 1000 and at 1 fingerprint per request.
start_attestd bolt --max-pending 0
load submit --server "$URL" --api-key "$KEY" --conns 32 --per-request 1000 --requests $K_REQ --duration $DUR --check
load submit --server "$URL" --api-key "$KEY" --conns 64 --per-request 1 --requests $ONE_REQ --duration $DUR --check
# Once more without --check, for CPU per request (compared with Redis's, row 4R).
load_cpu submit --server "$URL" --api-key "$KEY" --conns 64 --per-request 1 --requests $ONE_REQ --duration $DUR
# 202 → confirmed (batch interval 1 s, 1 confirmation, mined on demand).
start_attestd confirm --batch-interval 1s --chain-poll 200ms
load confirm --server "$URL" --api-key "$KEY" --requests $CONFIRM_REQ --rate 20 --duration 2m
grep -h "gas" "$work/confirm.log" | tail -3 || true
curl -fs "$URL/metrics" | grep -E '^attestd_(anchor_gas_used|gas)' || true
fi

if [ "$mode" != mem ]; then
# Proof reads: a store of READ_POP fingerprints, sealed in batches of up to 1M and anchored.
start_attestd reads --max-pending 0 --max-batch-size 1000000 --batch-interval 5s
# FILL_DUR bounds the fill; if it ends first, the read population is the
# acknowledged prefix (the at most 32 requests cut off at the deadline are the last ones handed out).
fill=$("$bin/attestd-load" submit --server "$URL" --api-key "$KEY" --conns 32 --per-request 1000 \
	--requests $((READ_POP / 1000)) --duration "${FILL_DUR:-60m}" --run-id reads --json) || true
acked=$(echo "$fill" | awk -F'[:,]' '/"requests"/ {print $2 + 0; exit}')
echo "## fill: $(echo "$fill" | awk -F'[:,]' '/"requests"|"seconds"|"fps_per_s"|"p99_ms"/ {gsub(/[ "]/, ""); printf "%s=%s ", $1, $2}')"
if [ $((acked * 1000)) -lt "$READ_POP" ]; then
	READ_POP=$(((acked - 32) * 1000))
	echo "## fill stopped by FILL_DUR: reading the first $READ_POP fingerprints"
fi
for _ in $(seq 900); do # until everything is sealed and merged into the index (bounded: 15 min)
	n=$(curl -fs "$URL/metrics" | awk '/^attestd_(pending|store_unindexed)_fingerprints /{s += $2} END {print s + 0}')
	[ "${n%.*}" = 0 ] && break
	sleep 1
done
sleep 10
echo "## store: $(dbsize "$work/reads") bytes, pending $(metric attestd_pending_fingerprints), unindexed $(metric attestd_store_unindexed_fingerprints), load average $(cut -d' ' -f1-3 /proc/loadavg)"
rdur=${READ_DUR:-$DUR}
# A warm-up first: the first reads of pages the fill wrote cost more (a page
# fault each); the figures below are for a store that is serving.
echo "## warm-up (not a figure)"
load read --server "$URL" --conns 64 --run-id reads --population $READ_POP --requests $READ_REQ --duration "${READ_WARM:-10s}"
# Closed loop, 64 connections: the most the server answers, and the latency at that load.
load_cpu read --server "$URL" --conns 64 --run-id reads --population $READ_POP --requests $READ_REQ --duration "$rdur" --check
# Open loop: the latency at a given load, counted from each request's due time.
for rate in ${READ_RATES:-10000 15000 20000}; do
	load_cpu read --server "$URL" --conns 64 --run-id reads --population $READ_POP --rate "$rate" \
		--requests $((rate * ${rdur%s})) --duration "$((${rdur%s} + 5))s" --check
done
fi

# load_redis PORT ARGS...: load_cpu, then Redis's CPU and script calls per
# answered request (the gap of row 4R).
load_redis() {
	local port=$1 c0 c1 e0 e1; shift
	rcpu() { redis-cli -p "$port" INFO cpu | awk -F: '$1 == "used_cpu_sys" || $1 == "used_cpu_user" {s += $2} END {printf "%.6f", s}'; }
	revals() { redis-cli -p "$port" INFO commandstats | awk -F'[:=,]' '$1 == "cmdstat_evalsha" {print $3}'; }
	c0=$(rcpu); e0=$(revals)
	answered=0
	load_cpu "$@" || true
	c1=$(rcpu); e1=$(revals)
	if [ "$answered" -gt 0 ]; then
		awk -v c="$(echo "$c1 - $c0" | bc)" -v e=$((${e1:-0} - ${e0:-0})) -v n="$answered" \
			'BEGIN {printf "Redis per answered request: %.1f us CPU, %.2f EVALSHA\n\n", c * 1e6 / n, e / n}'
	fi
}

# Redis with AOF appendfsync always (what "202 means durable" needs).
if { [ "$mode" = quick ] || [ "$mode" = full ]; } && command -v redis-server >/dev/null; then
	redis-server --port 16379 --bind 127.0.0.1 --appendonly yes --appendfsync always --save "" \
		--dir "$work" --daemonize no >"$work/redis.log" 2>&1 &
	pids+=($!)
	sleep 1
	start_attestd redis --store redis://127.0.0.1:16379/0 --max-pending 0
	load submit --server "$URL" --api-key "$KEY" --conns 32 --per-request 1000 --requests $K_REQ --duration $DUR --check
	load submit --server "$URL" --api-key "$KEY" --conns 64 --per-request 1 --requests $ONE_REQ --duration $DUR --check
	# Once more without --check (its re-reads would count as the load's CPU):
	# where each acknowledged submission's CPU goes, attestd and Redis.
	load_redis 16379 submit --server "$URL" --api-key "$KEY" --conns 64 --per-request 1 --requests $ONE_REQ --duration $DUR
fi

if [ "$mode" = mem ] || [ "$mode" = full ] || [ "$mode" = quick ]; then
# Row 10a: RSS under a sustained 1 fp/request load for RSS_DUR, sampled every 10 s
# (VmRSS, RssAnon, RssFile from /proc/PID/status; Go heap from /metrics).
name_rss=rss
start_attestd rss --max-pending 0 --batch-interval 5s
spid=${pids[-1]}
sample_rss "$spid" 10 >"$work/rss.tsv" &
sampler=$!
load submit --server "$URL" --api-key "$KEY" --conns 16 --per-request 1 --requests 100000000 --duration $RSS_DUR
kill "$sampler"; wait "$sampler" 2>/dev/null || true
echo "## RSS samples (pid $spid)"; cat "$work/rss.tsv"; echo
kill "$spid"; wait "$spid" 2>/dev/null || true

# Row 10b: bytes per pending fingerprint: PENDING_N fingerprints (1000/request),
# nothing sealed (--batch-interval 1h, --max-batch-size above PENDING_N).
pending_bytes() { # LABEL BEFORE AFTER
	awk -v l="$1" -v a="$2" -v b="$3" -v n="$PENDING_N" 'BEGIN {printf "%s: %d -> %d bytes, %+.1f B/pending fp\n", l, a, b, (b - a) / n}'
}
name_rss=pend
start_attestd pend --max-pending 0 --batch-interval 1h --max-batch-size 100000000
ppid=${pids[-1]}
sleep 5
f0=$(dbsize "$work/pend"); h0=$(metric go_memstats_heap_inuse_bytes); r0=$(kb "$ppid" RssAnon)
load submit --server "$URL" --api-key "$KEY" --conns 32 --per-request 1000 --requests $((PENDING_N / 1000)) --duration 10m
sleep 10
f1=$(dbsize "$work/pend"); h1=$(metric go_memstats_heap_inuse_bytes); r1=$(kb "$ppid" RssAnon)
echo "## embedded store, pending $(metric attestd_pending_fingerprints)"
pending_bytes "bolt files" "$f0" "$f1"
pending_bytes "heap_inuse" "$h0" "$h1"
pending_bytes "RssAnon" "$((r0 * 1024))" "$((r1 * 1024))"
echo
kill "$ppid"; wait "$ppid" 2>/dev/null || true
if command -v redis-server >/dev/null; then
	rport=$(shuf -i 20000-60000 -n 1)
	mkdir -p "$work/redis-pend"
	redis-server --port "$rport" --bind 127.0.0.1 --appendonly yes --appendfsync always --save "" \
		--dir "$work/redis-pend" --daemonize no >"$work/redis-pend.log" 2>&1 &
	pids+=($!)
	sleep 1
	umem() { redis-cli -p "$rport" INFO memory | awk -F: '$1 == "used_memory" {print $2+0}'; }
	start_attestd redispend --store "redis://127.0.0.1:$rport/0" --max-pending 0 --batch-interval 1h --max-batch-size 100000000
	sleep 5
	u0=$(umem); h0=$(metric go_memstats_heap_inuse_bytes)
	load submit --server "$URL" --api-key "$KEY" --conns 32 --per-request 1000 --requests $((PENDING_N / 1000)) --duration 10m
	sleep 10
	u1=$(umem); h1=$(metric go_memstats_heap_inuse_bytes)
	echo "## Redis store (port $rport), pending $(metric attestd_pending_fingerprints)"
	pending_bytes "redis used_memory" "$u0" "$u1"
	pending_bytes "attestd heap_inuse" "$h0" "$h1"
	echo
fi
fi
