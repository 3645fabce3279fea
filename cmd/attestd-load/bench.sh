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
#   cmd/attestd-load/bench.sh peer    # make bench-peer: attestd against Tessera's POSIX personality (issue #18), alternating
#   cmd/attestd-load/bench.sh base COMMIT  # build attestd at COMMIT into bin/attestd-COMMIT, for peer's BASE_BIN
#   cmd/attestd-load/bench.sh bulk    # rows 3 and 3R: 1,000 per request; bin/attestd, BASE_BIN and Redis alternating
#   (environment: BULK_RUNS (default 2), BULK_DUR (default 60s), BASE_BIN, BULK_REDIS=0 (no Redis rounds))
#   cmd/attestd-load/bench.sh profile # CPU and allocation profiles of 1 fingerprint per request, where each microsecond goes
#   (environment: PROFILE_CONNS (default "64 1024"), PROFILE_DUR (default 10s), PROFILE_OUT (keep the profiles there),
#    ATTESTD_BIN (the attestd to profile: it needs serve --pprof-listen))
#   (environment: PEER_CONNS (writer counts, default "64 1024"), PEER_RUNS (default 2), PEER_DUR (default 15s),
#    PEER_WARM (default 3s), PEER_REQ (default 2000000), BASE_BIN (another attestd binary, run alternately too))
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
worktree= # base: the temporary checkout
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
	if [ -n "$worktree" ]; then git -C "$root" worktree remove --force "$worktree" || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

# base COMMIT: attestd as of COMMIT, built from a temporary git worktree
# (removed after) into bin/attestd-SHORT (SHORT: 7 hex digits), whose path
# it prints, for bench.sh peer's BASE_BIN.
if [ "$mode" = base ]; then
	commit=$(git -C "$root" rev-parse --verify "${2:?usage: bench.sh base COMMIT}^{commit}")
	short=$(git -C "$root" rev-parse --short=7 "$commit")
	worktree=$work/src
	git -C "$root" worktree add --detach "$worktree" "$commit" >/dev/null
	(cd "$worktree" && "${GO:-go}" build -ldflags "-X main.version=$(git describe --tags --always) -X main.commit=$commit" \
		-o "$bin/attestd-$short" ./cmd/attestd)
	echo "$bin/attestd-$short" # alone on stdout: BASE_BIN=$(bench.sh base COMMIT)
	exit 0
fi

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
# ATTESTD_BIN: another attestd binary than bin/attestd.
start_attestd() {
	local name=$1; shift
	port=$((port + 1))
	local chain=$((port + 1000))
	"${ATTESTD_BIN:-$bin/attestd}" serve --dev --data-dir "$work/$name" --listen 127.0.0.1:$port --chain-listen 127.0.0.1:$chain \
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
# load_cpu ARGS...: load, then the CPU time the last started attestd (or
# LOAD_NAME) and the generator spent per answered request.
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
			-v name="${LOAD_NAME:-attestd}" \
			'BEGIN {printf "CPU per answered request: %s %.1f us, attestd-load %.1f us\n", name, s / hz * 1e6 / n, g / hz * 1e6 / n}'
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

# peer (issue #18): attestd against Tessera's POSIX personality, the same
# generator (attestd-load submit, 1 fingerprint per request, --target tessera
# for the peer) and the same writer counts. For each of PEER_CONNS, PEER_RUNS
# rounds; each round runs every server once, in turn: attestd then Tessera,
# the next round Tessera then attestd (with BASE_BIN: attestd, base, Tessera,
# then reversed; and the floor server, see below). Each load gets a server of its own, started fresh (its data
# in $work, one file system for all), a PEER_WARM warm-up that is not a figure,
# then the PEER_DUR load, and the server stopped before the next one starts:
# nothing one server does after its load (sealing, integrating) runs during
# another's. attestd: serve --dev --rate-limit 0 --max-pending 0. Tessera:
# cmd/conformance/posix at TESSERA_VERSION, built once into bin/tools/.
TESSERA_VERSION=v1.0.4
TESSERA_MOD=github.com/transparency-dev/tessera
tessera_bin=$bin/tools/tessera-$TESSERA_VERSION/posix

# install_tessera: go install of the pinned personality through the module
# proxy, unless bin/tools/ holds it already (go version -m names the module version).
install_tessera() {
	if [ -x "$tessera_bin" ] && [ "$("${GO:-go}" version -m "$tessera_bin" | awk '$1 == "mod" {print $2, $3}')" = "$TESSERA_MOD $TESSERA_VERSION" ]; then
		return
	fi
	echo "## go install $TESSERA_MOD/cmd/conformance/posix@$TESSERA_VERSION into $(dirname "$tessera_bin")"
	GOBIN=$(dirname "$tessera_bin") "${GO:-go}" install "$TESSERA_MOD/cmd/conformance/posix@$TESSERA_VERSION"
}

# built_commit BIN: the commit make build or bench.sh base stamped into BIN (-X main.commit=).
built_commit() { "${GO:-go}" version -m "$1" | grep -o 'main\.commit=[0-9a-f]*' | cut -d= -f2 | cut -c1-12; }

# start_tessera NAME: the personality on the next port, its log in
# $work/NAME, a new signing key (attestd-load tessera-key, mode 0600); sets URL.
start_tessera() {
	local name=$1
	port=$((port + 1))
	"$bin/attestd-load" tessera-key --out "$work/$name.key" attestd-bench
	"$tessera_bin" --storage_dir "$work/$name" --listen 127.0.0.1:$port --private_key "$work/$name.key" >"$work/$name.log" 2>&1 &
	pids+=($!)
	URL=http://127.0.0.1:$port
	for _ in $(seq 100); do
		curl -fs -o /dev/null "$URL/checkpoint" && return
		sleep 0.2
	done
	echo "Tessera did not start:" >&2; cat "$work/$name.log" >&2; exit 1
}

# start_floor: attestd-load floor (net/http answering a fixed receipt-sized
# body, nothing else) on the next port, bounded in time; sets URL and KEY.
start_floor() {
	port=$((port + 1))
	"$bin/attestd-load" floor --listen 127.0.0.1:$port --duration 10m >/dev/null &
	pids+=($!)
	URL=http://127.0.0.1:$port KEY=floor
	for _ in $(seq 100); do
		curl -fs -o /dev/null "$URL/readyz" && return
		sleep 0.1
	done
	echo "the floor server did not start" >&2; exit 1
}

# stop PID: SIGTERM, up to 30 s for a graceful exit, then SIGKILL; PID leaves pids.
stop() {
	local p=$1 q keep=()
	kill "$p" 2>/dev/null || true
	for _ in $(seq 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	kill -KILL "$p" 2>/dev/null || true
	wait "$p" 2>/dev/null || true
	for q in "${pids[@]}"; do [ "$q" = "$p" ] || keep+=("$q"); done
	pids=("${keep[@]}")
}

# peer_load SERVER CONNS ROUND: SERVER (attestd, base, tessera or floor) started
# fresh, warmed up, loaded, stopped; its figures appended to $work/peer.tsv.
peer_load() {
	local who=$1 conns=$2 round=$3 name=peer-$1-$2-$3 args spid rc=0
	case $who in
	attestd) start_attestd "$name" --max-pending 0 ;;
	base) ATTESTD_BIN=$BASE_BIN start_attestd "$name" --max-pending 0 ;;
	tessera) start_tessera "$name"; KEY= ;;
	floor) start_floor ;;
	esac
	spid=${pids[-1]}
	args=(submit --server "$URL" --conns "$conns" --per-request 1 --requests "${PEER_REQ:-2000000}")
	if [ "$who" = tessera ]; then args+=(--target tessera); else args+=(--api-key "$KEY"); fi
	echo "## $who, $conns writers, round $round: warm-up ${PEER_WARM:-3s} (not a figure)"
	"$bin/attestd-load" "${args[@]}" --duration "${PEER_WARM:-3s}" >/dev/null
	LOAD_NAME=$who load_cpu "${args[@]}" --duration "${PEER_DUR:-15s}" >"$work/peer.out" || rc=$?
	cat "$work/peer.out"
	stop "$spid"
	rm -rf "${work:?}/$name"
	[ "$rc" = 0 ] || { echo "attestd-load failed ($rc)" >&2; exit 1; }
	awk -v who="$who" -v conns="$conns" -v round="$round" '
		/^ok requests/ {rps = $6} /^latency ms:/ {p50 = $4; p99 = $8} /^CPU per answered request:/ {cpu = $6}
		END {printf "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", conns, round, who, rps, p50, p99, cpu}' "$work/peer.out" >>"$work/peer.tsv"
	tail -1 "$work/peer.tsv" | awk -F'\t' '{printf "=> %s writers, round %s, %s: %s req/s, p50 %s ms, p99 %s ms, %s us CPU/request\n\n", $1, $2, $3, $4, $5, $6, $7}'
}

# peer_summary: per writer count and server, the range over the rounds of
# req/s, p99 and CPU/request; then the ratios of the mean req/s, with the
# range of each round's own ratio.
peer_summary() {
	echo "## summary: ${PEER_RUNS:-2} round(s) of ${PEER_DUR:-15s} per server and writer count, alternating"
	awk -F'\t' '
		function range(a, b, f) { return a == b ? sprintf(f, a) : sprintf(f "-" f, a, b) }
		{
			k = $1 SUBSEP $3; n[k]++; sum[k] += $4
			if (!(k in lo) || $4 < lo[k]) lo[k] = $4; if ($4 > hi[k]) hi[k] = $4
			if (!(k in p99lo) || $6 < p99lo[k]) p99lo[k] = $6; if ($6 > p99hi[k]) p99hi[k] = $6
			if (!(k in cpulo) || $7 < cpulo[k]) cpulo[k] = $7; if ($7 > cpuhi[k]) cpuhi[k] = $7
			rps[$1, $2, $3] = $4
			if (!($1 in seen)) { seen[$1] = 1; order[++nc] = $1 }
			if ($2 > rounds) rounds = $2
			has[$3] = 1
		}
		function ratio(c, a, b,   r, x, rlo, rhi) {
			if (!((c, a) in n) || !((c, b) in n) || sum[c, b] == 0) return
			for (r = 1; r <= rounds; r++) {
				if (!((c, r, a) in rps) || rps[c, r, b] == 0) continue
				x = rps[c, r, a] / rps[c, r, b]
				if (rlo == "" || x < rlo) rlo = x; if (rhi == "" || x > rhi) rhi = x
			}
			printf "%7s  %-22s %8.2fx  (rounds %s)\n", c, a "/" b " req/s", (sum[c, a] / n[c, a]) / (sum[c, b] / n[c, b]), range(rlo, rhi, "%.2fx")
		}
		END {
			printf "%7s  %-8s %10s  %-15s  %-17s  %s\n", "writers", "server", "mean req/s", "req/s (rounds)", "p99 ms (rounds)", "CPU us/request (rounds)"
			split("attestd base tessera floor", srv, " ")
			for (i = 1; i <= nc; i++) for (j = 1; j <= 4; j++) {
				k = order[i] SUBSEP srv[j]; if (!(k in n)) continue
				printf "%7s  %-8s %10.0f  %-15s  %-17s  %s\n", order[i], srv[j], sum[k] / n[k], range(lo[k], hi[k], "%.0f"),
					range(p99lo[k], p99hi[k], "%.1f"), range(cpulo[k], cpuhi[k], "%.1f")
			}
			print ""
			for (i = 1; i <= nc; i++) {
				ratio(order[i], "attestd", "tessera"); if (has["base"]) ratio(order[i], "attestd", "base")
				if (has["floor"]) { ratio(order[i], "floor", "tessera"); ratio(order[i], "attestd", "floor") }
			}
		}' "$work/peer.tsv"
}

# profile: one fingerprint per request at each of PROFILE_CONNS writers,
# attestd started with --pprof-listen; after a 3 s warm-up, a CPU profile
# and an allocation profile (the delta over the load) of PROFILE_DUR each,
# then the CPU and the allocations per request, split by where they go.
# The profiles are kept in PROFILE_OUT (when set) for go tool pprof.
# profile_split BIN PROFILE REQUESTS UNIT: the cumulative figure of each
# part of a request, per request (the parts overlap nowhere: each is a
# distinct call tree, and "other" is the rest, the runtime's own work
# (GC, scheduler) mostly).
profile_split() {
	local bin=$1 prof=$2 n=$3 unit=$4 index=()
	[ "$unit" = B ] && index=(-sample_index=alloc_space)
	"${GO:-go}" tool pprof "${index[@]}" -top -cum -nodecount=100000 "$bin" "$prof" 2>/dev/null | awk -v n="$n" -v unit="$unit" '
		function val(s,   v) { v = s; sub(/[a-zA-Z]+$/, "", v)
			if (unit == "us") { if (s ~ /ms$/) v /= 1e3; else if (s ~ /us$|µs$/) v /= 1e6; else if (s ~ /ns$/) v /= 1e9; return v * 1e6 }
			if (s ~ /GB$/) return v * 1e9; if (s ~ /MB$/) return v * 1e6; if (s ~ /kB$/) return v * 1e3; return v }
		/^Showing nodes/ { t = $(NF - 1); total = val(t) }
		/^(Duration|Type|Time|File|Build|Showing|Dropped|      flat)/ { next }
		{ f = $6; c = val($4)
		  if (f == "net/http.(*conn).readRequest") part["HTTP: read and parse the request"] += c
		  else if (f == "net/http.(*response).finishRequest") part["HTTP: write the answer (flush, syscall)"] += c
		  else if (f == "net/http.(*connReader).backgroundRead") part["HTTP: background read (keep-alive)"] += c
		  else if (f == "github.com/attestd/attestd/internal/server.(*Server).authenticate") part["auth: the API key"] += c
		  else if (f ~ /internal\/server\.(decode|readBody|decodeSubmit)$/) part["JSON: read and decode the body"] += c
		  else if (f == "github.com/attestd/attestd/internal/receipt.(*Signer).Sign") part["receipt: statements, tree, Ed25519"] += c
		  else if (f ~ /internal\/store\/bolt\.\(\*Store\)\.(Submit|committer|merger)$/ || f ~ /internal\/store\/redis\.\(\*Store\)\.Submit$/) part["store: submit, group commit, fsync, index merge"] += c
		  else if (f == "github.com/gin-gonic/gin.(*Context).JSON" || f == "github.com/attestd/attestd/internal/server.writeReceipts") part["JSON: write the answer (receipts)"] += c
		  else if (f == "github.com/attestd/attestd/internal/metrics.(*Metrics).ObserveHTTP") part["metrics"] += c
		  else if (f == "github.com/attestd/attestd/internal/batch.(*Sealer).Run") part["sealer (background)"] += c
		  else if (f == "runtime.gcBgMarkWorker") part["GC (background)"] += c
		  if (f == "github.com/gin-gonic/gin.(*Engine).ServeHTTP") gin = c
		  if (f == "github.com/attestd/attestd/internal/server.(*Server).SubmitFingerprints") handler = c
		}
		END {
			part["gin and middleware, outside the handler"] = gin - handler
			for (k in part) { printf "  %-48s %9.2f %s/request\n", k, part[k] / n, unit; sum += part[k] }
			printf "  %-48s %9.2f %s/request\n", "~ the rest (runtime, scheduler, net/http)", (total - sum) / n, unit
			printf "  %-48s %9.2f %s/request\n", "= all of attestd", total / n, unit
		}' | sort
}
if [ "$mode" = profile ]; then
	for conns in ${PROFILE_CONNS:-64 1024}; do
		pport=$((port + 3001)) # start_attestd takes the next port, port + 1
		start_attestd "profile-$conns" --max-pending 0 --pprof-listen 127.0.0.1:$pport
		pp=http://127.0.0.1:$pport/debug/pprof
		args=(submit --server "$URL" --api-key "$KEY" --conns "$conns" --per-request 1 --requests 2000000)
		"$bin/attestd-load" "${args[@]}" --duration 3s >/dev/null
		dur=${PROFILE_DUR:-10s}; secs=${dur%s}
		curl -fs -o "$work/cpu-$conns.pb.gz" "$pp/profile?seconds=$secs" &
		cpid=$!
		"$bin/attestd-load" "${args[@]}" --duration "$dur" --run-id "cpu$conns" | tee "$work/cpu-$conns.out"
		wait $cpid
		curl -fs -o "$work/allocs-$conns.pb.gz" "$pp/allocs?seconds=$secs" &
		cpid=$!
		"$bin/attestd-load" "${args[@]}" --duration "$dur" --run-id "mem$conns" | tee "$work/allocs-$conns.out"
		wait $cpid
		stop "${pids[-1]}"
		b=${ATTESTD_BIN:-$bin/attestd}
		echo "## $conns writers: CPU per request ($(awk '/^ok requests/ {print $3}' "$work/cpu-$conns.out") requests in the profile)"
		profile_split "$b" "$work/cpu-$conns.pb.gz" "$(awk '/^ok requests/ {print $3}' "$work/cpu-$conns.out")" us
		echo "## $conns writers: bytes allocated per request"
		profile_split "$b" "$work/allocs-$conns.pb.gz" "$(awk '/^ok requests/ {print $3}' "$work/allocs-$conns.out")" B
		if [ -n "${PROFILE_OUT:-}" ]; then mkdir -p "$PROFILE_OUT"; cp "$work"/cpu-"$conns".pb.gz "$work"/allocs-"$conns".pb.gz "$PROFILE_OUT"/; fi
		echo
	done
	exit 0
fi

# bulk (rows 3 and 3R): 1,000 fingerprints per request on 32 connections,
# BULK_DUR each, BULK_RUNS rounds. Each round runs bin/attestd, BASE_BIN
# (if set) and bin/attestd on Redis (AOF appendfsync always; unless
# BULK_REDIS=0), in an order reversed every round, so the ratios compare
# runs of the same minutes. Each load has a fresh server (and Redis) and a
# 5 s warm-up that is not a figure.
bulk_load() { # NAME [serve args...]
	local name=$1; shift
	start_attestd "$name" --max-pending 0 "$@"
	"$bin/attestd-load" submit --server "$URL" --api-key "$KEY" --conns 32 --per-request 1000 --requests 20000 --duration 5s --run-id warm >/dev/null
	LOAD_NAME=$name load_cpu submit --server "$URL" --api-key "$KEY" --conns 32 --per-request 1000 --requests 100000 --duration "${BULK_DUR:-60s}" --run-id "$name"
	stop "${pids[-1]}"
	rm -rf "${work:?}/$name"
}
bulk_redis() { # NAME
	local name=$1 rpid
	mkdir -p "$work/$name-redis"
	redis-server --port 16380 --bind 127.0.0.1 --appendonly yes --appendfsync always --save "" \
		--dir "$work/$name-redis" --daemonize no >"$work/$name-redis.log" 2>&1 &
	rpid=$!; pids+=("$rpid")
	for _ in $(seq 50); do redis-cli -p 16380 ping >/dev/null 2>&1 && break; sleep 0.1; done
	bulk_load "$name" --store redis://127.0.0.1:16380/0
	stop "$rpid"
	rm -rf "${work:?}/$name-redis"
}
if [ "$mode" = bulk ]; then
	runs=(attestd)
	if [ -n "${BASE_BIN:-}" ]; then runs+=(base); fi
	if [ "${BULK_REDIS:-1}" = 1 ]; then
		command -v redis-server >/dev/null || { echo "no redis-server: set BULK_REDIS=0 to skip the Redis runs" >&2; exit 2; }
		runs+=(redis)
	fi
	for ((round = 1; round <= ${BULK_RUNS:-2}; round++)); do
		order=("${runs[@]}")
		if [ $((round % 2)) = 0 ]; then
			order=(); for ((i = ${#runs[@]} - 1; i >= 0; i--)); do order+=("${runs[i]}"); done
		fi
		for run in "${order[@]}"; do
			case $run in
			attestd) bulk_load "attestd-$round" ;;
			base) ATTESTD_BIN=$BASE_BIN bulk_load "base-$round" ;;
			redis) bulk_redis "redis-$round" ;;
			esac
		done
	done
	exit 0
fi

if [ "$mode" = peer ]; then
	install_tessera
	echo "## attestd: $bin/attestd (commit $(built_commit "$bin/attestd"))"
	echo "## Tessera: $TESSERA_MOD/cmd/conformance/posix $TESSERA_VERSION (batches of up to 256 entries or 1 s)"
	servers=(attestd tessera)
	if [ -n "${BASE_BIN:-}" ]; then
		[ -x "$BASE_BIN" ] || { echo "BASE_BIN $BASE_BIN: not an executable" >&2; exit 2; }
		echo "## base: $BASE_BIN (commit $(built_commit "$BASE_BIN"))"
		servers=(attestd base tessera)
	fi
	# The floor (attestd-load floor): Go's HTTP server and the generator
	# alone, the ceiling of any server on net/http here. PEER_FLOOR=0: without.
	if [ "${PEER_FLOOR:-1}" = 1 ]; then servers+=(floor); fi
	echo
	KEY=
	for conns in ${PEER_CONNS:-64 1024}; do
		for ((round = 1; round <= ${PEER_RUNS:-2}; round++)); do
			order=("${servers[@]}")
			if [ $((round % 2)) = 0 ]; then
				order=(); for ((i = ${#servers[@]} - 1; i >= 0; i--)); do order+=("${servers[i]}"); done
			fi
			for who in "${order[@]}"; do peer_load "$who" "$conns" "$round"; done
		done
	done
	peer_summary
	exit 0
fi

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
