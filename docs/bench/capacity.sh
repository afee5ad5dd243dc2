#!/bin/sh
# Store size per login, per refresh and per event, made over HTTP by
# `sessiond serve` (hybrid, the defaults) on each store: `sessiond bench
# create`, then `sessiond bench refresh` (32 connections, requests with a
# browser's IP and User-Agent), the store measured after each
# (docs/operations.md, "Sizing"):
#   SQLite      the bytes of each table with its indexes (dbstat), and the
#               file (its -wal apart, which a checkpoint empties)
#   PostgreSQL  pg_total_relation_size of each table of the schema NS
#   Redis       used_memory of a private redis-server (REDIS_PORT, no
#               persistence), and again once the event log's keys are
#               deleted, which gives the events' share
# Sessions, tokens and events are counted in the store, so the events a
# login and a refresh record are counted too.
#
#   SD=/tmp/sd [STORES="sqlite postgres redis"] [NS=zz_sizing] [PORT=18546] [REDIS_PORT=18545] \
#     docs/bench/capacity.sh [create seconds] [refresh seconds]
set -u
. "$(dirname "$0")/serve-store.sh"
csecs=${1:-20}
rsecs=${2:-10}
port=${PORT:-18546}
rport=${REDIS_PORT:-18545}
ns=${NS:-zz_sizing}
dir=$(mktemp -d)
rpid=
pid=
# Stop only the processes this script started (by their process IDs).
trap '[ -n "$pid" ] && kill $pid 2>/dev/null; [ -n "$rpid" ] && kill $rpid 2>/dev/null; wait; rm -rf "$dir"' EXIT
BENCH_FLAGS=--client

# measure STORE DATA: "sessions tokens events session-bytes event-bytes file-bytes"
measure() {
  case $1 in
    sqlite)
      db=$2/sessiond.db
      sqlite3 "$db" "SELECT (SELECT count(*) FROM sessions), (SELECT count(*) FROM tokens), (SELECT count(*) FROM events),
        (SELECT sum(d.pgsize) FROM dbstat d JOIN sqlite_master m ON m.name = d.name WHERE m.tbl_name IN ('sessions', 'tokens')),
        (SELECT sum(d.pgsize) FROM dbstat d JOIN sqlite_master m ON m.name = d.name WHERE m.tbl_name IN ('events', 'events_by_id'))" |
        tr '|' ' ' | tr -d '\n'
      echo " $(stat -c %s "$db")";; # the -wal apart: it is bounded, not per session (operations.md, "SQLite files")
    postgres)
      psql "$BENCH_PG" -Atq -F ' ' -c "SELECT (SELECT count(*) FROM $ns.sessions), (SELECT count(*) FROM $ns.tokens), (SELECT count(*) FROM $ns.events),
        (SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = '$ns' AND c.relname IN ('sessions', 'tokens', 'revocation_log')),
        pg_total_relation_size('$ns.events'),
        (SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = '$ns' AND c.relkind = 'r')";;
    redis)
      used=$(redis-cli -p "$rport" info memory | awk -F: '/^used_memory:/ {print $2 + 0}')
      ev=$(redis-cli -p "$rport" --scan --pattern "$ns:{$ns:ev}:e:*" | wc -l)
      echo "$(redis-cli -p "$rport" zcard "$ns:{$ns}:gc") - $ev - - $used";;
  esac
}

for store in ${STORES:-sqlite postgres redis}; do
  drop_namespace "$store" "$ns"
  [ "$store" = redis ] && private_redis "$rport" capacity.sh
  serve_store "$store" "$ns" "$dir/$store" "$port" "$dir/$store.log"
  set -- $(measure "$store" "$dir/$store"); s0=$1 t0=$2 e0=$3 b0=$4 eb0=$5 f0=$6
  bench_store create "$port" "$csecs" "$dir/create.json"
  set -- $(measure "$store" "$dir/$store"); s1=$1 t1=$2 e1=$3 b1=$4 eb1=$5 f1=$6
  bench_store refresh "$port" "$rsecs" "$dir/refresh.json"
  set -- $(measure "$store" "$dir/$store"); s2=$1 t2=$2 e2=$3 b2=$4 eb2=$5 f2=$6
  n1=$(( s1 - s0 ))
  n2=$(jq .requests "$dir/refresh.json")
  echo "$store: $n1 logins, $n2 refreshes; $s2 sessions, $t2 tokens, $e2 events"
  case $store in
    redis)
      # The event log's keys (hashes and the sorted sets indexing them), then the rest.
      redis-cli -p "$rport" --scan --pattern "$ns:{$ns:ev}:*" | xargs -r -n 1000 redis-cli -p "$rport" unlink >/dev/null
      sleep 1 # UNLINK frees in the background
      set -- $(measure redis); f3=$6
      echo "  Redis used_memory: $(( (f1 - f0) / n1 )) B a login, $(( (f2 - f1) / n2 )) B a refresh (their events included)"
      evb=$(( (f2 - f3) / (e2 - e0) ))
      echo "  events: $(( e2 - e0 )), $evb B each; without its event $(( (f1 - f0) / n1 - evb * (e1 - e0) / n1 )) B a login, $(( (f2 - f1) / n2 - evb * (e2 - e1) / n2 )) B a refresh"
      kill -TERM "$pid"; wait "$pid"; pid=
      kill "$rpid"; wait "$rpid"; rpid=
      continue;;
  esac
  echo "  events: $(( e1 - e0 )) for the logins, $(( e2 - e1 )) for the refreshes; $(( (eb2 - eb0) / (e2 - e0) )) B each"
  echo "  sessions and tokens: $(( (b1 - b0) / n1 )) B a login, $(( (b2 - b1) / n2 )) B a refresh (events apart)"
  echo "  $( [ "$store" = sqlite ] && echo 'the file' || echo 'every table' ): $(( (f1 - f0) / n1 )) B a login, $(( (f2 - f1) / n2 )) B a refresh (events included)"
  kill -TERM "$pid"; wait "$pid"; pid=
  drop_namespace "$store" "$ns"
done
