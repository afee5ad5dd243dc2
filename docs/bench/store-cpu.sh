#!/bin/sh
# CPU time per login and per refresh over HTTP, of `sessiond serve`
# (hybrid), of its store's server and of the load generator, for each store:
# on a machine whose cores other jobs share, requests per second follow
# their load, CPU time per request much less. A private redis-server (port
# REDIS_PORT, no persistence) serves only this run, so its CPU time is this
# run's. PostgreSQL is the test service on 127.0.0.1: its figure is the sum
# over every postgres process, so it is this run's only on a machine where
# nothing else uses that server. SQLite runs inside sessiond. Each phase
# reads utime+stime from /proc before and after `sessiond bench` (32
# connections) and divides by the requests; the load generator's own time
# comes from the shell's `times`. The refresh phase's setup logins (one per
# connection) are included and negligible.
#
#   SD=/tmp/sd [PORT=18480] [REDIS_PORT=18522] [STORES="memory sqlite postgres redis"] docs/bench/store-cpu.sh [seconds]
set -u
. "$(dirname "$0")/serve-store.sh"
secs=${1:-6}
port=${PORT:-18480}
rport=${REDIS_PORT:-18522}
dir=$(mktemp -d)
private_redis "$rport" store-cpu.sh
# Stop only the server this script started (by its process ID).
trap 'kill $rpid 2>/dev/null; wait $rpid; rm -rf "$dir"' EXIT
tck=$(getconf CLK_TCK)
ns=cpu$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')
# cpu PID...: their user + system time, in clock ticks.
cpu() { for p in "$@"; do cat "/proc/$p/stat" 2>/dev/null; done | awk '{t += $14 + $15} END {print t + 0}'; }
# store_cpu STORE: the CPU time of the store's own server, in clock ticks.
store_cpu() {
  case $1 in
    redis) cpu "$rpid";;
    postgres) cpu $(pgrep -x postgres);;
    *) echo 0;;
  esac
}
for store in ${STORES:-memory sqlite postgres redis}; do
  serve_store "$store" "$ns" "$dir/$store" "$port" "$dir/$store.log"
  for sc in create refresh; do
    s0=$(cpu "$pid"); r0=$(store_cpu "$store")
    # `times` prints the shell's own and then its children's user and
    # system time: the second line is the load generator's.
    g=$( (bench_store "$sc" "$port" "$secs" "$dir/$sc.json"; times) | sed -n 2p)
    s1=$(cpu "$pid"); r1=$(store_cpu "$store")
    n=$(jq .requests "$dir/$sc.json")
    rps=$(jq '.requests_per_second|floor' "$dir/$sc.json")
    echo "$g" | tr 'ms' '  ' | awk -v n="$n" -v tck="$tck" -v s=$((s1 - s0)) -v r=$((r1 - r0)) -v st="$store" -v sc="$sc" -v rps="$rps" '{
      gen = ($1 * 60 + $2 + $3 * 60 + $4) * 1e6 / n
      printf "%s %s: %d req/s, CPU µs/request: sessiond %.0f, store server %.0f, load generator %.0f, total %.0f\n", st, sc, rps, s / tck * 1e6 / n, r / tck * 1e6 / n, gen, (s + r) / tck * 1e6 / n + gen
    }'
  done
  kill -TERM "$pid"; wait "$pid"
done
drop_namespace postgres "$ns"
