#!/bin/sh
# One store, one `sessiond bench` scenario, 32 connections, with the server's CPU
# time per request read from /proc/<pid>/stat (docs/PERFORMANCE.md, writes2).
#   SD=/tmp/sd docs/bench/store-phase.sh memory|sqlite|postgres|redis create|refresh SECONDS [PERF_OUT]
store=$1; sc=$2; secs=$3; prof=${4:-}
dir=$(mktemp -d); ns=bench$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')
case $store in
  memory) env="SESSIOND_STORE_DRIVER=memory";;
  sqlite) env="SESSIOND_STORE_DRIVER=sqlite";;
  postgres) env="SESSIOND_STORE_DRIVER=postgres SESSIOND_STORE_DSN=postgres://postgres@127.0.0.1:5432/test?sslmode=disable SESSIOND_STORE_NAMESPACE=$ns";;
  redis) env="SESSIOND_STORE_DRIVER=redis SESSIOND_STORE_DSN=redis://127.0.0.1:6379/0 SESSIOND_STORE_NAMESPACE=$ns";;
esac
env $env SESSIOND_API_KEY=sdak_bench_0123456789abcdefghijklmnopqrstuvwxyz ${SD:-/tmp/sd} serve --data $dir/data --listen 127.0.0.1:18463 2>$dir/serve.log &
pid=$!
while ! curl -sf http://127.0.0.1:18463/readyz >/dev/null; do sleep 0.2; done
if [ -n "$prof" ]; then (sleep 1; perf record -F 499 -g -p $pid -o $prof -- sleep $((secs-2)) >/dev/null 2>&1) & fi
cpu0=$(awk '{print $14+$15}' /proc/$pid/stat)
SESSIOND_API_KEY=sdak_bench_0123456789abcdefghijklmnopqrstuvwxyz ${SD:-/tmp/sd} bench $sc --url http://127.0.0.1:18463 --concurrency 32 --duration ${secs}s --json > $dir/out.json
cpu1=$(awk '{print $14+$15}' /proc/$pid/stat)
n=$(jq '.requests' $dir/out.json)
echo "$store $sc: server CPU $(echo "scale=1; ($cpu1-$cpu0)*10000/$n" | bc) µs/req over $n requests; $(jq -r '"\(.requests_per_second|floor) req/s, p50 \(.latency_ms.p50) ms, p99 \(.latency_ms.p99) ms, errors \(.errors)"' $dir/out.json)"
[ -n "$prof" ] && sleep 2
kill -TERM $pid; wait $pid
[ $store = postgres ] && psql "postgres://postgres@127.0.0.1:5432/test?sslmode=disable" -q -c "DROP SCHEMA IF EXISTS $ns CASCADE" 2>/dev/null
[ $store = redis ] && redis-cli --scan --pattern "$ns*" | xargs -r redis-cli del >/dev/null
rm -rf $dir
