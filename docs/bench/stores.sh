#!/bin/sh
# Create and refresh throughput of `sessiond serve` (hybrid) on each store,
# with `sessiond bench` and 32 connections (docs/PERFORMANCE.md). PostgreSQL
# and Redis on 127.0.0.1 (the test services); each run uses its own schema
# or key prefix and removes it. PROFILE=FILE records a perf CPU profile of
# the server during the SQLite refresh run.
#
#   go build -o /tmp/sd ./cmd/sessiond
#   SD=/tmp/sd [PORT=18440] [STORES="memory sqlite"] docs/bench/stores.sh [seconds]
set -u
. "$(dirname "$0")/serve-store.sh"
secs=${1:-6}
port=${PORT:-18440}
PROFILE=${PROFILE:-}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
ns=bench$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')
for store in ${STORES:-memory sqlite postgres redis}; do
  d=$dir/$store; mkdir -p $d
  serve_store $store $ns $d/data $port $d/serve.log
  for sc in create refresh; do
    if [ "$store" = sqlite ] && [ "$sc" = refresh ] && [ -n "${PROFILE:-}" ]; then
      (sleep 2; perf record -F 999 -g -p $pid -o ${PROFILE} -- sleep 3 >/dev/null 2>&1) &
    fi
    bench_store $sc $port $secs $d/$sc.json
    echo "$store $sc: $(summary $d/$sc.json)"
  done
  kill -TERM $pid; wait $pid
done
drop_namespace postgres $ns
drop_namespace redis $ns
