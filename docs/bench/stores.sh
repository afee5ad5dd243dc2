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
secs=${1:-6}
port=${PORT:-18440}
PROFILE=${PROFILE:-}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
ns=bench$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')
for store in ${STORES:-memory sqlite postgres redis}; do
  d=$dir/$store; mkdir -p $d
  case $store in
    memory) env="SESSIOND_STORE_DRIVER=memory";;
    sqlite) env="SESSIOND_STORE_DRIVER=sqlite";;
    postgres) env="SESSIOND_STORE_DRIVER=postgres SESSIOND_STORE_DSN=postgres://postgres@127.0.0.1:5432/test?sslmode=disable SESSIOND_STORE_NAMESPACE=$ns";;
    redis) env="SESSIOND_STORE_DRIVER=redis SESSIOND_STORE_DSN=redis://127.0.0.1:6379/0 SESSIOND_STORE_NAMESPACE=$ns";;
  esac
  env $env SESSIOND_API_KEY=sdak_bench_0123456789abcdefghijklmnopqrstuvwxyz ${SD:-/tmp/sd} serve --data $d/data --listen 127.0.0.1:$port 2>$d/serve.log &
  pid=$!
  while ! curl -sf http://127.0.0.1:$port/readyz >/dev/null; do sleep 0.2; done
  for sc in create refresh; do
    if [ "$store" = sqlite ] && [ "$sc" = refresh ] && [ -n "${PROFILE:-}" ]; then
      (sleep 2; perf record -F 999 -g -p $pid -o ${PROFILE} -- sleep 3 >/dev/null 2>&1) &
    fi
    SESSIOND_API_KEY=sdak_bench_0123456789abcdefghijklmnopqrstuvwxyz ${SD:-/tmp/sd} bench $sc --url http://127.0.0.1:$port --concurrency 32 --duration ${secs}s --json > $d/$sc.json
    echo "$store $sc: $(jq -r '"\(.requests_per_second|floor) req/s, p50 \(.latency_ms.p50) ms, p99 \(.latency_ms.p99) ms, errors \(.errors)"' $d/$sc.json)"
  done
  kill -TERM $pid; wait $pid
done
psql "postgres://postgres@127.0.0.1:5432/test?sslmode=disable" -q -c "DROP SCHEMA IF EXISTS $ns CASCADE" 2>/dev/null
redis-cli --scan --pattern "$ns*" | xargs -r redis-cli del >/dev/null
