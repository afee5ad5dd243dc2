# Sourced by the scripts in docs/bench: start `sessiond serve` (hybrid)
# on one store and remove what a run left in PostgreSQL or Redis (the test
# services on 127.0.0.1). SD names the binary (default /tmp/sd).
BENCH_KEY=sdak_bench_0123456789abcdefghijklmnopqrstuvwxyz
BENCH_PG=postgres://postgres@127.0.0.1:5432/test?sslmode=disable
BENCH_REDIS=redis://127.0.0.1:6379/0

# serve_store STORE NS DATA PORT LOG: memory, sqlite, or postgres/redis
# under the schema or key prefix NS; sets pid and returns once it is ready.
serve_store() {
  case $1 in
    memory) env="SESSIOND_STORE_DRIVER=memory";;
    sqlite) env="SESSIOND_STORE_DRIVER=sqlite";;
    postgres) env="SESSIOND_STORE_DRIVER=postgres SESSIOND_STORE_DSN=$BENCH_PG SESSIOND_STORE_NAMESPACE=$2";;
    redis) env="SESSIOND_STORE_DRIVER=redis SESSIOND_STORE_DSN=$BENCH_REDIS SESSIOND_STORE_NAMESPACE=$2";;
  esac
  env $env SESSIOND_API_KEY=$BENCH_KEY ${SD:-/tmp/sd} serve --data $3 --listen 127.0.0.1:$4 2>$5 &
  pid=$!
  while ! curl -sf http://127.0.0.1:$4/readyz >/dev/null; do sleep 0.2; done
}

# bench_store SCENARIO PORT SECONDS OUT: `sessiond bench`, 32 connections,
# its JSON summary in OUT. BENCH_FLAGS adds flags (--client: requests with
# a browser's IP and User-Agent).
bench_store() {
  SESSIOND_API_KEY=$BENCH_KEY ${SD:-/tmp/sd} bench $1 --url http://127.0.0.1:$2 --concurrency 32 --duration ${3}s ${BENCH_FLAGS:-} --json > $4
}

# summary OUT: one line of a bench JSON summary.
summary() {
  jq -r '"\(.requests_per_second|floor) req/s, p50 \(.latency_ms.p50) ms, p99 \(.latency_ms.p99) ms, errors \(.errors)"' $1
}

# drop_namespace STORE NS: remove the schema or keys of NS (nothing for the
# other stores).
drop_namespace() {
  case $1 in
    postgres) psql "$BENCH_PG" -q -c "DROP SCHEMA IF EXISTS $2 CASCADE" 2>/dev/null;;
    redis) redis-cli --scan --pattern "$2*" | xargs -r redis-cli del >/dev/null;;
  esac
}

# private_redis PORT SCRIPT: start a redis-server of this run's own on PORT
# (no persistence), refusing a port that is taken; sets rpid and points
# BENCH_REDIS at it. The caller stops it by that process ID.
private_redis() {
  if redis-cli -p "$1" ping >/dev/null 2>&1; then
    echo "$2: port $1 is taken; set REDIS_PORT" >&2
    exit 2
  fi
  redis-server --port "$1" --save '' --appendonly no >/dev/null &
  rpid=$!
  until redis-cli -p "$1" ping >/dev/null 2>&1; do
    kill -0 $rpid 2>/dev/null || { echo "$2: redis-server did not start on port $1" >&2; exit 2; }
    sleep 0.1
  done
  BENCH_REDIS=redis://127.0.0.1:$1/0
}

# private_cluster BASE SCRIPT DIR: start a Redis Cluster of this run's own,
# three masters with a replica each on ports BASE to BASE+5 (and their bus
# ports, no persistence, files under DIR), refusing a port that is taken;
# returns once every node says the cluster is ok. Sets cpids (the six
# processes, for the caller to stop) and points BENCH_REDIS at it.
private_cluster() {
  cpids=""
  addrs=""
  for i in 0 1 2 3 4 5; do
    p=$(($1 + i))
    if redis-cli -p "$p" ping >/dev/null 2>&1; then
      echo "$2: port $p is taken; set CLUSTER_PORT" >&2
      exit 2
    fi
    mkdir -p "$3/$p"
    redis-server --port "$p" --dir "$3/$p" --cluster-enabled yes --save '' --appendonly no \
      --repl-diskless-sync-delay 0 >/dev/null &
    cpids="$cpids $!"
    addrs="$addrs 127.0.0.1:$p"
  done
  for i in 0 1 2 3 4 5; do
    until redis-cli -p $(($1 + i)) ping >/dev/null 2>&1; do sleep 0.1; done
  done
  # shellcheck disable=SC2086 # one argument per node
  redis-cli --cluster create $addrs --cluster-replicas 1 --cluster-yes >/dev/null
  until [ "$(for i in 0 1 2 3 4 5; do redis-cli -p $(($1 + i)) cluster info | grep -c 'cluster_state:ok'; done | paste -sd+ | bc)" = 6 ]; do
    sleep 0.2
  done
  BENCH_REDIS="redis://127.0.0.1:$1/0?addr=127.0.0.1:$(($1 + 1))&addr=127.0.0.1:$(($1 + 2))"
}
