# demo.sh --failover: step 11, the master dies and nothing is lost. Sourced by scripts/demo.sh,
# whose narration (say, note, show, run, spawn, stop, wait_for, pause, fail, lines_of) and work
# dir ($WORK) it uses. It starts its own servers on free ports (a master, a replica and three
# sentinels, whatever REDIS_URL says), kills the master while alice and bob are consuming, and
# narrates the promotion.

# free_port: a port nothing answers on (bash's /dev/tcp, as demo.sh's ping).
free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 30000))
    ping "$port" || { echo "$port"; return; }
  done
}

# fail_server NAME ARGS...: starts a server in the background (its pid in $WORK/NAME.pid) on a
# free port ($port, set before ARGS are expanded by the caller's function) and waits until it
# answers; another program taking the port first makes it try the next one.
fail_server() {
  local name=$1
  shift
  "${SERVER_BIN:-redis-server}" "$@" >"$WORK/$name.out" 2>&1 &
  echo $! >"$WORK/$name.pid"
}

# up NAME PORT: whether server NAME (started by fail_server) answers on PORT within 10 s; if it
# does not, it is stopped.
up() {
  local deadline=$((SECONDS + 10))
  until ping "$2"; do
    if [ "$SECONDS" -ge "$deadline" ] || ! kill -0 "$(pid_of "$1")" 2>/dev/null; then
      kill "$(pid_of "$1")" 2>/dev/null || true
      wait "$(pid_of "$1")" 2>/dev/null || true
      return 1
    fi
    sleep 0.05
  done
}

# start_fail NAME VAR COMMAND...: picks a free port into VAR, runs COMMAND (which reads it) and
# waits until the server answers, up to 10 tries.
start_fail() {
  local name=$1 var=$2
  shift 2
  for _ in $(seq 1 10); do
    printf -v "$var" '%s' "$(free_port)"
    "$@"
    up "$name" "${!var}" && return
  done
  fail "could not start $name on a free port (see $WORK/$name.out)"
}

# said NAME LOG: how many lines consumer NAME printed into LOG.
said() { grep -c "^$1 " "$WORK/$2.log" 2>/dev/null || true; }

failover_step() {
  local master replica s1 s2 s3 n conf url held dups unique total
  say "11. The master dies, nothing is lost: a master, a replica and three sentinels"
  note "Redis Sentinel watches the master; when most sentinels agree it is down, they promote the"
  note "replica, and every binary finds the new master through them (--redis-url redis+sentinel://)"
  mkdir -p "$WORK/fail-master" "$WORK/fail-replica"
  start_fail fail-master master eval 'fail_server fail-master --port "$master" --bind 127.0.0.1 \
    --dir "$WORK/fail-master" --save "" --appendonly no'
  start_fail fail-replica replica eval 'fail_server fail-replica --port "$replica" --bind 127.0.0.1 \
    --dir "$WORK/fail-replica" --save "" --appendonly no --replicaof 127.0.0.1 "$master"'
  n=0
  for var in s1 s2 s3; do
    n=$((n + 1))
    # Sentinel rewrites its config file: it must be writable, one per sentinel.
    start_fail "fail-sentinel-$n" "$var" eval 'conf="$WORK/sentinel-$n.conf"
      printf "%s\n" "port ${!var}" "bind 127.0.0.1" "dir $WORK" \
        "sentinel monitor mm 127.0.0.1 $master 2" "sentinel down-after-milliseconds mm 1000" \
        "sentinel failover-timeout mm 4000" >"$conf"
      fail_server "fail-sentinel-$n" "$conf" --sentinel'
  done
  url="redis+sentinel://127.0.0.1:$s1,127.0.0.1:$s2,127.0.0.1:$s3/mm"
  replica_online() { inspect --redis-url "$url" server --json 2>/dev/null | grep -q '"state":"online"'; }
  wait_for "the replica to catch up" 60 replica_online
  # A sentinel learns of a replica from the master's INFO (every 10 s) and of the other
  # sentinels from their hellos: only then can they agree on a promotion.
  sentinels_ready() {
    local port
    for port in "$s1" "$s2" "$s3"; do
      redis-cli -p "$port" sentinel replicas mm 2>/dev/null | grep -qx "127.0.0.1:$replica" ||
        redis-cli -p "$port" sentinel replicas mm 2>/dev/null | grep -qx "$replica" || return 1
      [ "$(redis-cli -p "$port" sentinel sentinels mm 2>/dev/null | grep -cx 'runid')" -ge 2 ] || return 1
    done
  }
  wait_for "the sentinels to see the replica and each other" 60 sentinels_ready
  run inspect --redis-url "$url" server
  pause

  note "the producer writes 3,000 readings (--wait-replicas 1: each batch counts only once the"
  note "replica has it), alice and bob share them (--delay 20ms each)"
  run producer --redis-url "$url" --stream failover --date 2018-08-15 --count 3000 \
    --wait-replicas 1
  spawn falice consumer alice --redis-url "$url" --stream failover --delay 20ms \
    --claim-idle 5s --retry-for 60s --idle-exit 15s
  spawn fbob consumer bob --redis-url "$url" --stream failover --delay 20ms \
    --claim-idle 5s --retry-for 60s --idle-exit 15s
  under_way() { [ "$(said alice falice)" -ge 100 ]; }
  wait_for "alice and bob to be under way" 60 under_way
  show "kill -KILL $(pid_of fail-master)    # the master's machine dies"
  kill -KILL "$(pid_of fail-master)"
  wait "$(pid_of fail-master)" 2>/dev/null || true
  note "alice $(said alice falice) and bob $(said bob fbob) messages when the master died"
  promoted() {
    inspect --redis-url "$url" server --json 2>/dev/null | grep -q "\"address\":\"127.0.0.1:$replica\",\"server\":\"[^\"]*\",\"role\":\"master\""
  }
  wait_for "the sentinels to promote the replica" 60 promoted
  run inspect --redis-url "$url" server
  note "the replica on port $replica is the master now; alice and bob reconnected through the sentinels"
  wait_for "alice and bob to finish the stream" 120 gone falice
  wait_for "bob to finish" 60 gone fbob
  held=$(inspect --redis-url "$url" --no-prefix pending failover --json | grep -o '"pending":[0-9]*' |
    head -n 1 | cut -d: -f2)
  total=$(( $(said alice falice) + $(said bob fbob) ))
  unique=$(cat "$WORK/falice.log" "$WORK/fbob.log" | awk '$1 == "alice" || $1 == "bob" {print $3}' | sort -u | wc -l)
  dups=$((total - unique))
  run inspect --redis-url "$url" --no-prefix groups failover
  note "processed $unique distinct readings of 3000 ($dups twice: what was in hand or unacked at the"
  note "failover is delivered again, never lost), and ${held:-?} pending after the drain"
  [ "$unique" -eq 3000 ] || fail "only $unique of 3000 readings were processed after the failover"
  for name in fail-replica fail-sentinel-1 fail-sentinel-2 fail-sentinel-3; do
    kill "$(pid_of "$name")" 2>/dev/null || true
    wait "$(pid_of "$name")" 2>/dev/null || true
  done
  pause
}
