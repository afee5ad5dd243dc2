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
cpids=""
trap 'kill $cpids 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
private_cluster "$base" redis-cluster-writes.sh "$dir"
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
