#!/bin/sh
# Logins and refreshes over HTTP (`sessiond bench`, 32 connections) of
# `sessiond serve` (hybrid) on a private Redis Cluster of three masters with
# a replica each (ports CLUSTER_PORT to CLUSTER_PORT+5 and their bus ports,
# no persistence), for each binary in SDS in turn, ROUNDS times, so that
# two builds compare in one run. Prints requests a second, p50 and p99.
#
#   SDS="/tmp/sd-before /tmp/sd" [CLUSTER_PORT=18601] [PORT=18480] docs/bench/redis-cluster-writes.sh [rounds] [seconds]
set -u
. "$(dirname "$0")/serve-store.sh"
rounds=${1:-2}
secs=${2:-6}
base=${CLUSTER_PORT:-18601}
port=${PORT:-18480}
dir=$(mktemp -d)
pids=""
trap 'kill $pids 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
addrs=""
for i in 0 1 2 3 4 5; do
  p=$((base + i))
  if redis-cli -p "$p" ping >/dev/null 2>&1; then
    echo "redis-cluster-writes.sh: port $p is taken; set CLUSTER_PORT" >&2
    exit 2
  fi
  mkdir "$dir/$p"
  redis-server --port "$p" --dir "$dir/$p" --cluster-enabled yes --save '' --appendonly no \
    --repl-diskless-sync-delay 0 >/dev/null &
  pids="$pids $!"
  addrs="$addrs 127.0.0.1:$p"
done
for i in 0 1 2 3 4 5; do
  until redis-cli -p $((base + i)) ping >/dev/null 2>&1; do sleep 0.1; done
done
# shellcheck disable=SC2086 # one argument per node
redis-cli --cluster create $addrs --cluster-replicas 1 --cluster-yes >/dev/null
until [ "$(for i in 0 1 2 3 4 5; do redis-cli -p $((base + i)) cluster info | grep -c 'cluster_state:ok'; done | paste -sd+ | bc)" = 6 ]; do
  sleep 0.2
done
BENCH_REDIS="redis://127.0.0.1:$base/0?addr=127.0.0.1:$((base + 1))&addr=127.0.0.1:$((base + 2))"
r=0
while [ $r -lt "$rounds" ]; do
  r=$((r + 1))
  for sd in ${SDS:-/tmp/sd}; do
    ns=cw$(head -c4 /dev/urandom | od -An -tx1 | tr -d ' \n')
    SD=$sd serve_store redis "$ns" "$dir/data-$ns" "$port" "$dir/$ns.log"
    for sc in create refresh; do
      SD=$sd bench_store "$sc" "$port" "$secs" "$dir/$sc.json"
      echo "round $r, $sd, $sc: $(summary "$dir/$sc.json")"
    done
    kill -TERM "$pid"; wait "$pid"
  done
done
