#!/bin/sh
# CPU time per login and per refresh over HTTP, of `sessiond serve`
# (hybrid) and of its Redis, for the memory and the redis store: on a
# machine whose cores other jobs share, requests per second follow their
# load, CPU time per request much less. A private redis-server (port
# REDIS_PORT, no persistence) serves only this run, so its CPU time is
# this run's. Each phase reads utime+stime of both processes from /proc
# before and after `sessiond bench` (32 connections) and divides by the
# requests; the refresh phase's setup logins (one per connection) are
# included and negligible.
#
#   SD=/tmp/sd [PORT=18480] [REDIS_PORT=18522] [STORES="memory redis"] docs/bench/store-cpu.sh [seconds]
set -u
. "$(dirname "$0")/serve-store.sh"
secs=${1:-6}
port=${PORT:-18480}
rport=${REDIS_PORT:-18522}
dir=$(mktemp -d)
if redis-cli -p "$rport" ping >/dev/null 2>&1; then
  echo "store-cpu.sh: port $rport is taken; set REDIS_PORT" >&2
  exit 2
fi
redis-server --port "$rport" --save '' --appendonly no >/dev/null &
rpid=$!
# Stop only the server this script started (by its process ID).
trap 'kill $rpid 2>/dev/null; wait $rpid; rm -rf "$dir"' EXIT
until redis-cli -p "$rport" ping >/dev/null 2>&1; do sleep 0.1; done
kill -0 $rpid 2>/dev/null || { echo "redis-server did not start on port $rport" >&2; exit 2; }
BENCH_REDIS=redis://127.0.0.1:$rport/0
tck=$(getconf CLK_TCK)
# cpu PID: its user + system time, in clock ticks.
cpu() { awk '{print $14 + $15}' "/proc/$1/stat"; }
for store in ${STORES:-memory redis}; do
  serve_store "$store" bench "$dir/$store" "$port" "$dir/$store.log"
  for sc in create refresh; do
    s0=$(cpu "$pid"); r0=$(cpu "$rpid")
    bench_store "$sc" "$port" "$secs" "$dir/$sc.json"
    s1=$(cpu "$pid"); r1=$(cpu "$rpid")
    n=$(jq .requests "$dir/$sc.json")
    rps=$(jq '.requests_per_second|floor' "$dir/$sc.json")
    awk -v n="$n" -v tck="$tck" -v s=$((s1 - s0)) -v r=$((r1 - r0)) -v st="$store" -v sc="$sc" -v rps="$rps" 'BEGIN {
      if (st != "redis") r = 0
      printf "%s %s: %d req/s, CPU µs/request: sessiond %.0f, redis %.0f, total %.0f\n", st, sc, rps, s / tck * 1e6 / n, r / tck * 1e6 / n, (s + r) / tck * 1e6 / n
    }'
  done
  kill -TERM "$pid"; wait "$pid"
done
