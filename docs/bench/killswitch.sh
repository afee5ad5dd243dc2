#!/bin/sh
# The incident kill switch through the shipped binary, as an operator runs
# it: `sessiond serve` (hybrid) on one store, sessions created over HTTP by
# `sessiond bench create` for SECONDS, then `sessiond incident revoke --all`
# timed from the command line (docs/PERFORMANCE.md). PostgreSQL and Redis on
# 127.0.0.1 (the test services); the run's schema or keys are removed after.
#
#   go build -o /tmp/sd ./cmd/sessiond
#   SD=/tmp/sd docs/bench/killswitch.sh [postgres|redis|sqlite|memory] [seconds]
set -u
. "$(dirname "$0")/serve-store.sh"
store=${1:-postgres}
secs=${2:-300}
port=${PORT:-18450}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
ns=ks$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')
serve_store $store $ns $dir/data $port $dir/serve.log
bench_store create $port $secs $dir/create.json
echo "created: $(summary $dir/create.json)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
# redis_cpu: Redis's own CPU seconds so far (user + system), from INFO.
redis_cpu() { redis-cli -u "$BENCH_REDIS" info cpu | tr -d '\r' | awk -F: '/^used_cpu_(user|sys):/ {t += $2} END {print t}'; }
[ "$store" = redis ] && rc0=$(redis_cpu)
start=$(date +%s.%N)
SESSIOND_API_KEY=$BENCH_KEY ${SD:-/tmp/sd} incident revoke --all --reason bench --url http://127.0.0.1:$port
end=$(date +%s.%N)
echo "incident revoke --all, wall time seen by the CLI: $(echo "$end - $start" | bc) s"
[ "$store" = redis ] && echo "Redis CPU meanwhile: $(echo "$(redis_cpu) - $rc0" | bc) s"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
kill -TERM $pid
wait $pid
drop_namespace $store $ns
