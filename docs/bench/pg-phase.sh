#!/bin/sh
# One `sessiond bench` scenario (32 connections) against `sessiond serve` on
# PostgreSQL or memory, with the CPU time per request of the server and of
# its PostgreSQL backends (read from /proc for the backends connected to
# DB), each run on a fresh schema, dropped after (docs/PERFORMANCE.md,
# pgwrites). DB must exist and be used by nothing else.
#   SD=/tmp/sd DB=pgbench_writes [STORE=memory] [PGX='&pool_max_conns=16'] \
#     docs/bench/pg-phase.sh create|refresh SECONDS
sc=$1; secs=$2; db=${DB:-pgbench_writes}
dir=$(mktemp -d); ns=bench$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')
url="postgres://postgres@127.0.0.1:5432/$db?sslmode=disable"
PSQL="psql $url -Atq"
K=sdak_bench_0123456789abcdefghijklmnopqrstuvwxyz
if [ "${STORE:-postgres}" = memory ]; then env="SESSIOND_STORE_DRIVER=memory"
else env="SESSIOND_STORE_DRIVER=postgres SESSIOND_STORE_DSN=$url${PGX:-} SESSIOND_STORE_NAMESPACE=$ns"; fi
env $env SESSIOND_API_KEY=$K ${SD:-/tmp/sd} serve --data $dir/data --listen 127.0.0.1:18579 2>$dir/serve.log &
pid=$!
while ! curl -sf http://127.0.0.1:18579/readyz >/dev/null; do sleep 0.2; done
pgcpu() {
  for p in $($PSQL -c "SELECT pid FROM pg_stat_activity WHERE datname = '$db' AND pid <> pg_backend_pid()"); do
    awk '{print $14+$15}' /proc/$p/stat 2>/dev/null
  done | awk '{s+=$1} END {print s+0}'
}
cpu0=$(awk '{print $14+$15}' /proc/$pid/stat); pg0=$(pgcpu)
SESSIOND_API_KEY=$K ${SD:-/tmp/sd} bench $sc --url http://127.0.0.1:18579 --concurrency 32 --duration ${secs}s --json > $dir/out.json
cpu1=$(awk '{print $14+$15}' /proc/$pid/stat); pg1=$(pgcpu)
n=$(jq '.requests' $dir/out.json)
echo "${STORE:-postgres}${PGX:-} $sc: $(jq -r '"\(.requests_per_second|floor) req/s, p50 \(.latency_ms.p50) ms, p99 \(.latency_ms.p99) ms, errors \(.errors)"' $dir/out.json); server $(echo "scale=1; ($cpu1-$cpu0)*10000/$n" | bc) µs/req, PostgreSQL $(echo "scale=1; ($pg1-$pg0)*10000/$n" | bc) µs/req"
kill -TERM $pid; wait $pid
[ "${STORE:-postgres}" = postgres ] && $PSQL -c "DROP SCHEMA IF EXISTS $ns CASCADE" 2>/dev/null
rm -rf $dir
