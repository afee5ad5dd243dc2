#!/bin/sh
# The incident kill switch through the shipped binary, as an operator runs
# it: `sessiond serve` (hybrid) on one store, sessions created over HTTP by
# `sessiond bench create` for SECONDS, then `sessiond incident revoke --all`
# timed from the command line (docs/PERFORMANCE.md). PostgreSQL and Redis on
# 127.0.0.1 (the test services); the run's schema or keys are removed after.
# redis-cluster: a private Redis Cluster of three masters with a replica
# each (private_cluster, ports CLUSTER_PORT to CLUSTER_PORT+5), stopped
# after.
#
#   go build -o /tmp/sd ./cmd/sessiond
#   SD=/tmp/sd docs/bench/killswitch.sh [postgres|redis|redis-cluster|sqlite|memory] [seconds]
set -u
. "$(dirname "$0")/serve-store.sh"
store=${1:-postgres}
secs=${2:-300}
port=${PORT:-18450}
dir=$(mktemp -d)
cpids=""
trap 'kill $cpids 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
ns=ks$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')
nodes=""
if [ "$store" = redis-cluster ]; then
  base=${CLUSTER_PORT:-18601}
  private_cluster "$base" killswitch.sh "$dir"
  nodes="$base $((base + 1)) $((base + 2)) $((base + 3)) $((base + 4)) $((base + 5))"
  store=redis
fi
serve_store $store $ns $dir/data $port $dir/serve.log
bench_store create $port $secs $dir/create.json
echo "created: $(summary $dir/create.json)"
echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
# redis_cpu: Redis's own CPU seconds so far (user + system), from INFO; on
# a Cluster, of its six nodes together.
redis_cpu() {
  if [ -n "$nodes" ]; then
    for p in $nodes; do redis-cli -p "$p" info cpu; done
  else
    redis-cli -u "$BENCH_REDIS" info cpu
  fi | tr -d '\r' | awk -F: '/^used_cpu_(user|sys):/ {t += $2} END {print t}'
}
# sd_cpu: the server's CPU seconds so far (user + system), from /proc.
sd_cpu() { awk -v hz="$(getconf CLK_TCK)" '{print ($14 + $15) / hz}' /proc/$pid/stat; }
[ "$store" = redis ] && rc0=$(redis_cpu)
sc0=$(sd_cpu)
# On the private Cluster: commands over 10 ms during the revocation only.
for p in $nodes; do
  redis-cli -p "$p" config set slowlog-log-slower-than 10000 >/dev/null
  redis-cli -p "$p" slowlog reset >/dev/null
done
start=$(date +%s.%N)
SESSIOND_API_KEY=$BENCH_KEY ${SD:-/tmp/sd} incident revoke --all --reason bench --url http://127.0.0.1:$port
end=$(date +%s.%N)
echo "incident revoke --all, wall time seen by the CLI: $(echo "$end - $start" | bc) s"
[ "$store" = redis ] && echo "Redis CPU meanwhile: $(echo "$(redis_cpu) - $rc0" | bc) s"
echo "sessiond serve CPU meanwhile: $(echo "$(sd_cpu) - $sc0" | bc) s"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
for p in $nodes; do
  echo "node $p: $(redis-cli -p "$p" slowlog len) commands over 10 ms; the longest (µs, command, keys): $(redis-cli -p "$p" --json slowlog get 128 |
    jq -c 'sort_by(-.[2]) | .[:3] | map([.[2], .[3][0], .[3][2]])')"
done
kill -TERM $pid
wait $pid
if [ -z "$nodes" ]; then drop_namespace $store $ns; fi
