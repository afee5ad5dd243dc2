#!/bin/sh
# One store, one `sessiond bench` scenario, 32 connections, with the server's CPU
# time per request read from /proc/<pid>/stat (docs/PERFORMANCE.md, writes2).
#   SD=/tmp/sd docs/bench/store-phase.sh memory|sqlite|postgres|redis create|refresh SECONDS [PERF_OUT]
. "$(dirname "$0")/serve-store.sh"
store=$1; sc=$2; secs=$3; prof=${4:-}
dir=$(mktemp -d); ns=bench$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')
serve_store $store $ns $dir/data 18463 $dir/serve.log
if [ -n "$prof" ]; then (sleep 1; perf record -F 499 -g -p $pid -o $prof -- sleep $((secs-2)) >/dev/null 2>&1) & fi
cpu0=$(awk '{print $14+$15}' /proc/$pid/stat)
bench_store $sc 18463 $secs $dir/out.json
cpu1=$(awk '{print $14+$15}' /proc/$pid/stat)
n=$(jq '.requests' $dir/out.json)
echo "$store $sc: server CPU $(echo "scale=1; ($cpu1-$cpu0)*10000/$n" | bc) µs/req over $n requests; $(summary $dir/out.json)"
[ -n "$prof" ] && sleep 2
kill -TERM $pid; wait $pid
drop_namespace $store $ns
rm -rf $dir
