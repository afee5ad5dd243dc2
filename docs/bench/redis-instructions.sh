#!/bin/sh
# Redis's own work per login and per refresh of `sessiond serve` (hybrid,
# store.driver redis), counted in instructions rather than time, so the
# figure repeats on a machine whose cores are busy with other work
# (docs/redisstore.md, "Measuring Redis's work"). A private redis-server
# runs under `valgrind --tool=callgrind`; each phase zeroes its counters,
# loads the server with `sessiond bench`, and dumps them. Besides the
# instructions (Ir) it reports the commands Redis ran per operation,
# those scripts call included (INFO commandstats).
#
# Per phase: (Ir - idle Ir for as long as the phase ran) / requests. The
# idle phase (the server running, no load) measures what the server's
# background loops and Redis's cron cost per second. The refresh phase
# starts with one login per connection (its setup), subtracted at the
# login phase's cost. The load runs at a fixed rate (RATE requests per
# second, well below what Redis under callgrind sustains): how many
# commands Redis finds per wake-up, and so its per-command overhead,
# follows the rate, which must then not depend on how busy the machine is.
#
#   go build -o /tmp/sd ./cmd/sessiond
#   SD=/tmp/sd [PORT=18480] [REDIS_PORT=18522] [CONC=8] [RATE=100] [REDIS_ARGS='--zset-max-listpack-entries 16'] docs/bench/redis-instructions.sh [seconds]
set -u
. "$(dirname "$0")/serve-store.sh"
secs=${1:-10}
port=${PORT:-18480}
rport=${REDIS_PORT:-18522}
conc=${CONC:-8}
rate=${RATE:-100}
dir=$(mktemp -d)
BENCH_REDIS=redis://127.0.0.1:$rport/0
rcli() { redis-cli -p "$rport" "$@"; }

if rcli ping >/dev/null 2>&1; then
  echo "redis-instructions.sh: port $rport is taken; set REDIS_PORT" >&2
  exit 2
fi
valgrind --tool=callgrind --callgrind-out-file="$dir/cg.out" \
  redis-server --port "$rport" --save '' --appendonly no ${REDIS_ARGS:-} >"$dir/valgrind.log" 2>&1 &
vg=$!
# Stop only the server this script started (by its process ID).
trap 'kill $vg 2>/dev/null; wait $vg; rm -rf "$dir"' EXIT
until rcli ping >/dev/null 2>&1; do sleep 0.2; done
kill -0 $vg 2>/dev/null || { echo "redis-server did not start on port $rport" >&2; exit 2; }

# ir FILE: the total instructions of a callgrind dump.
ir() { awk '/^(summary|totals):/ {print $2; exit}' "$1"; }
# calls: the commands Redis ran since the last CONFIG RESETSTAT.
calls() { rcli info commandstats | awk -F'[=,:]' '/^cmdstat_/ && $1 != "cmdstat_info" && $1 != "cmdstat_config" {n += $3} END {print n+0}'; }
# phase NAME CMD...: zero the counters, run CMD, dump; sets ir_NAME,
# calls_NAME and t_NAME (seconds).
phase() {
  name=$1; shift
  rcli config resetstat >/dev/null
  callgrind_control -z $vg >/dev/null 2>&1
  t0=$(date +%s.%N)
  "$@"
  t1=$(date +%s.%N)
  callgrind_control -d "$name" $vg >/dev/null 2>&1
  f=$(ls -t "$dir"/cg.out.* | head -1)
  eval "ir_$name=$(ir "$f") calls_$name=$(calls) t_$name=$(echo "$t1 - $t0" | bc -l)"
}

ns=instr$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')
serve_store redis "$ns" "$dir/data" "$port" "$dir/serve.log"
bench() { SESSIOND_API_KEY=$BENCH_KEY ${SD:-/tmp/sd} bench "$1" --url "http://127.0.0.1:$port" --concurrency "$conc" --rate "$rate" --duration "${secs}s" --json >"$dir/$1.json"; }
phase idle sleep "$secs"
phase create bench create
phase refresh bench refresh
kill -TERM "$pid"; wait "$pid"

n_create=$(jq .requests "$dir/create.json")
n_refresh=$(jq .requests "$dir/refresh.json")
awk -v ii="$ir_idle" -v ti="$t_idle" -v ci="$calls_idle" \
  -v ic="$ir_create" -v tc="$t_create" -v cc="$calls_create" -v nc="$n_create" \
  -v ir="$ir_refresh" -v tr="$t_refresh" -v cr="$calls_refresh" -v nr="$n_refresh" -v setup="$conc" \
  -v rate="$rate" -v secs="$secs" 'BEGIN {
  login = (ic - ii / ti * tc) / nc
  lcalls = (cc - ci / ti * tc) / nc
  refresh = (ir - ii / ti * tr - setup * login) / nr
  rcalls = (cr - ci / ti * tr - setup * lcalls) / nr
  printf "idle: %.0f Ir/s, %.1f commands/s\n", ii / ti, ci / ti
  printf "login: %d requests, %.0f Ir/op, %.1f commands/op\n", nc, login, lcalls
  printf "refresh: %d requests, %.0f Ir/op, %.1f commands/op\n", nr, refresh, rcalls
  if (nc < 0.95 * rate * secs || nr < 0.95 * rate * secs)
    printf "warning: fewer requests than RATE x seconds (%d): the load did not hold the rate, so this run is not comparable\n", rate * secs
}'
if [ -n "${VERBOSE:-}" ]; then rcli info commandstats; fi
