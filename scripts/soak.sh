#!/usr/bin/env bash
# Chaos soak: producers, five consumers (one slow, one behind a --pipe handler that stalls and
# prints over-long lines), random SIGKILLs of consumers, a dead
# consumer's backlog to claim every round (claims under contention), CLIENT KILLs of every
# connection, a server restart (AOF on) and injected poison entries, on a private redis-server;
# ends with a table
#
#   produced  processed  duplicates  dead-lettered  lost
#
# Lost must be 0: every entry the stream holds, and every reading a producer round confirmed
# (exit 0), is processed or dead-lettered. Duplicates are allowed (a killed consumer's messages
# in hand, or a batch whose ack a CLIENT KILL cut, are processed again) and must not exceed what
# was in hand at the kills. Not part of CI.
#
# With --failover the same rounds, consumers and faults run three times, MINUTES each, on
# servers that fail over or are cut off, each phase a row of the table:
#   sentinel   a master, a replica and three sentinels (down-after 1000 ms, failover-timeout
#              4000), every binary through redis+sentinel://; the master is SIGKILLed twice
#              (restarted once a replica is promoted: the sentinels make it a replica);
#   cluster    three masters with a replica each (cluster-node-timeout 1000), --cluster with
#              three seeds; the master of the stream is SIGKILLed once and restarted;
#   partition  a plain server in a network namespace of its own, joined by a veth pair and cut
#              off silently twice for 12 s (iptables DROP inside it). Root only (and iptables):
#              without, a WARNING and the phase is skipped.
# Producers and consumers pass --wait-replicas 1 where there is a replica (a confirmed reading
# or dead letter survives a failover) and --timeout 2s (a silent server is noticed quickly).
#
#   scripts/soak.sh [MINUTES]              (default 2)
#   scripts/soak.sh --failover [MINUTES]   (three phases of MINUTES each)
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/deps.sh
need_redis_server

usage="usage: scripts/soak.sh [--failover] [MINUTES]"
failover=0
if [ "${1:-}" = --failover ]; then failover=1; shift; fi
minutes=${1:-2}
case $minutes in ''|*[!0-9]*) echo "$usage" >&2; exit 2 ;; esac
[ $# -le 1 ] || { echo "$usage" >&2; exit 2; }
batch=50            # consumer --batch: at most this many messages in hand per consumer
round_count=5000    # timestamps per producer round (one date per round)
master_name=mm      # the name the sentinels monitor the master by
partition_secs=12   # how long each partition lasts

cargo build --release --quiet --bin producer --bin consumer
bin=target/release
work=$(mktemp -d)

# A free TCP port below 55536 (a cluster node's bus port is its port + 10000).
free_port() {
  python3 -c '
import socket
while True:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
    if port < 55536:
        print(port); break'
}

pids=()
netns=""      # the partition phase's namespace, while it exists
cleanup() {
  local pidfile
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  # Every server and sentinel we started writes a pid file under $work.
  while IFS= read -r pidfile; do kill -KILL "$(cat "$pidfile")" 2>/dev/null || true; done \
    < <(find "$work" -name pid 2>/dev/null)
  remove_netns
  rm -rf "$work"
}
trap cleanup EXIT

# --- Topology: where the servers are and how to reach them. Set by each phase's setup. ---
topology=single     # single | sentinel | cluster | partition
host=127.0.0.1      # the address the data nodes listen on
dir=""              # the phase's own directory under $work
url=""              # what every binary gets as --redis-url
flags=()            # what every binary gets besides (--cluster, --timeout, --retry-for, ...)
wait_flags=()       # --wait-replicas 1 where there is a replica
ports=()            # the data nodes' ports
sentinels=()        # the sentinels' ports
in_netns=()         # the prefix that runs a command inside the partition's namespace
declare -A node_args   # port -> the extra redis-server arguments it was started with

# The port of the master that holds the stream `soak` now (empty when nobody can say).
master_port() {
  case $topology in
    single|partition) echo "${ports[0]}" ;;
    sentinel) timeout 5 redis-cli -p "${sentinels[0]}" --raw sentinel get-master-addr-by-name "$master_name" 2>/dev/null | sed -n 2p ;;
    cluster) cluster_owner soak ;;
  esac
}

# The port of the live cluster master serving KEY's slot, as the first node that answers says.
cluster_owner() {
  local node slot owner
  for node in "${ports[@]}"; do
    slot=$(timeout 5 redis-cli -p "$node" cluster keyslot "$1" 2>/dev/null) || continue
    owner=$(timeout 5 redis-cli -p "$node" cluster nodes 2>/dev/null | awk -v slot="$slot" '
      $3 ~ /master/ && $3 !~ /fail/ {
        for (i = 9; i <= NF; i++) {
          n = split($i, range, "-"); if (n == 1) range[2] = range[1]
          if (slot + 0 >= range[1] + 0 && slot + 0 <= range[2] + 0) { split($2, addr, "[:@]"); print addr[2]; exit }
        }
      }') || continue
    [ -n "$owner" ] && { echo "$owner"; return; }
  done
}

# redis-cli to the master of `soak` (on a cluster following MOVED to a key of another slot, such
# as soak:dead), bounded: a partitioned or dead server does not hold us.
cli() {
  local port follow=()
  port=$(master_port)
  [ -n "$port" ] || return 1
  [ "$topology" != cluster ] || follow=(-c)
  timeout 5 redis-cli "${follow[@]}" -h "$host" -p "$port" "$@"
}

# What ROLE says the node on PORT is (master, slave), empty if it does not answer.
role() { timeout 5 redis-cli -h "$host" -p "$1" role 2>/dev/null | head -1; }

# Polls COMMAND until it succeeds, at most SECONDS; says WHAT did not happen otherwise.
wait_for() {
  local what=$1 seconds=$2; shift 2
  for _ in $(seq $((seconds * 10))); do "$@" && return; sleep 0.1; done
  echo "soak: $what did not happen within ${seconds}s (logs in $dir)" >&2
  return 1
}

# start_node PORT [ARGS...]: a data node in $dir/nPORT (its pid file, log and data there).
start_node() {
  local port=$1; shift
  node_args[$port]="$*"
  mkdir -p "$dir/n$port"
  "${in_netns[@]}" redis-server --port "$port" --bind "$host" --dir "$dir/n$port" --save "" \
    --daemonize yes --pidfile "$dir/n$port/pid" --logfile "$dir/n$port/log" "$@"
  wait_for "redis-server on port $port to start" 10 pong "$port"
}
pong() { timeout 5 redis-cli -h "$host" -p "$1" ping 2>/dev/null | grep -q PONG; }
kill_node() { kill -KILL "$(cat "$dir/n$1/pid")"; rm -f "$dir/n$1/pid"; }
restart_node() {
  # shellcheck disable=SC2086 # the arguments were stored as words
  start_node "$1" ${node_args[$1]}
}
in_sync() { timeout 5 redis-cli -p "$1" info replication 2>/dev/null | grep -q master_link_status:up; }

# Tears down the phase's servers (the consumers are stopped already).
stop_servers() {
  local pidfile
  while IFS= read -r pidfile; do kill -KILL "$(cat "$pidfile")" 2>/dev/null || true; rm -f "$pidfile"; done \
    < <(find "$dir" -name pid)
}

setup_single() {
  topology=single host=127.0.0.1 ports=("$(free_port)") flags=() wait_flags=() in_netns=()
  url="redis://127.0.0.1:${ports[0]}"
  start_node "${ports[0]}" --appendonly yes --appendfsync everysec
}

# A master, a replica of it and three sentinels, once every sentinel knows the replica and the
# other two (else no failover can start).
setup_sentinel() {
  topology=sentinel host=127.0.0.1 in_netns=() sentinels=()
  ports=("$(free_port)" "$(free_port)")
  start_node "${ports[0]}"
  start_node "${ports[1]}" --replicaof 127.0.0.1 "${ports[0]}"
  wait_for "the replica in sync" 30 in_sync "${ports[1]}"
  local port hosts=()
  for _ in 1 2 3; do
    port=$(free_port)
    mkdir -p "$dir/s$port"
    printf '%s\n' "port $port" "bind 127.0.0.1" "dir $dir/s$port" \
      "sentinel monitor $master_name 127.0.0.1 ${ports[0]} 2" \
      "sentinel down-after-milliseconds $master_name 1000" \
      "sentinel failover-timeout $master_name 4000" >"$dir/s$port/sentinel.conf"
    redis-server "$dir/s$port/sentinel.conf" --sentinel --daemonize yes \
      --pidfile "$dir/s$port/pid" --logfile "$dir/s$port/log"
    sentinels+=("$port") hosts+=("127.0.0.1:$port")
  done
  for port in "${sentinels[@]}"; do wait_for "sentinel $port to know the set" 30 sentinel_ready "$port"; done
  url="redis+sentinel://$(IFS=,; echo "${hosts[*]}")/$master_name"
  flags=(--timeout 2s) wait_flags=(--wait-replicas 1)
}
sentinel_ready() {
  [ "$(timeout 5 redis-cli -p "$1" --raw sentinel master "$master_name" 2>/dev/null |
    awk '/^num-slaves$/ {getline; s = $0} /^num-other-sentinels$/ {getline; o = $0} END {print s, o}')" = "1 2" ]
}

# Three masters, a replica each, joined by redis-cli --cluster create.
setup_cluster() {
  topology=cluster host=127.0.0.1 in_netns=() ports=()
  local port addresses=()
  for _ in 1 2 3 4 5 6; do
    port=$(free_port)
    start_node "$port" --cluster-enabled yes --cluster-config-file nodes.conf --cluster-node-timeout 1000
    ports+=("$port") addresses+=("127.0.0.1:$port")
  done
  redis-cli --cluster create "${addresses[@]}" --cluster-replicas 1 --cluster-yes >"$dir/create.log"
  wait_for "the cluster to be ok" 30 cluster_ok
  for port in "${ports[@]}"; do
    [ "$(role "$port")" = slave ] && wait_for "replica $port in sync" 30 in_sync "$port"
  done
  url="redis://$(IFS=,; echo "${addresses[*]:0:3}")"
  flags=(--cluster --timeout 2s) wait_flags=(--wait-replicas 1)
}
# Every live node says cluster_state:ok.
cluster_ok() {
  local port
  for port in "${ports[@]}"; do
    [ -f "$dir/n$port/pid" ] || continue
    timeout 5 redis-cli -p "$port" cluster info 2>/dev/null | grep -q cluster_state:ok || return 1
  done
}

# A network namespace joined to ours by a veth pair (10.254.X.1 ours, .2 its), a plain server
# inside it on the .2 address.
setup_partition() {
  topology=partition
  netns=mnsoak$$
  local x=$(( $$ % 256 )) tries=0
  while ip -4 -o addr show | grep -q " 10.254.$x.1/30 "; do
    x=$(( (x + 1) % 256 )); tries=$((tries + 1)); [ "$tries" -lt 256 ] || { echo "soak: no free 10.254.X.0/30" >&2; exit 1; }
  done
  ip netns add "$netns"
  ip link add "${netns}h" type veth peer name "${netns}n"
  ip link set "${netns}n" netns "$netns"
  ip addr add "10.254.$x.1/30" dev "${netns}h"
  ip link set "${netns}h" up
  ip netns exec "$netns" ip addr add "10.254.$x.2/30" dev "${netns}n"
  ip netns exec "$netns" ip link set "${netns}n" up
  ip netns exec "$netns" ip link set lo up
  host=10.254.$x.2 in_netns=(ip netns exec "$netns") ports=(6380)
  start_node 6380 --protected-mode no
  url="redis://$host:6380"
  flags=(--timeout 2s) wait_flags=()
}
# Kills what still runs in the namespace, deletes our veth end (its peer goes with it) and the
# namespace (its iptables rules go with it).
remove_netns() {
  [ -n "$netns" ] || return 0
  local pid
  for pid in $(ip netns pids "$netns" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null || true; done
  ip link delete "${netns}h" 2>/dev/null || true
  ip netns delete "$netns" 2>/dev/null || true
  netns=""
}

# --- Faults that take a while: run in the background, each writes one line to $dir/faults. ---

# SIGKILLs the master, waits until every sentinel names a promoted one, restarts the old one.
sentinel_failover() {
  local old began new
  old=$(master_port); began=$(date +%s%N)
  kill_node "$old"
  wait_for "a failover from $old" 60 promoted "$old" || return 0
  new=$(master_port)
  echo "failover $old -> $new in $(( ($(date +%s%N) - began) / 1000000 )) ms" >>"$dir/faults"
  restart_node "$old"
}
promoted() {
  local port named
  for port in "${sentinels[@]}"; do
    named=$(timeout 5 redis-cli -p "$port" --raw sentinel get-master-addr-by-name "$master_name" 2>/dev/null | sed -n 2p)
    [ -n "$named" ] && [ "$named" != "$1" ] && [ "$(role "$named")" = master ] || return 1
  done
}

# SIGKILLs the master of `soak`, waits until its replica serves the slot, restarts the old one.
cluster_failover() {
  local old began new
  old=$(master_port); began=$(date +%s%N)
  kill_node "$old"
  wait_for "a failover from $old" 60 cluster_moved "$old" || return 0
  wait_for "the cluster to be ok again" 60 cluster_ok || return 0
  new=$(master_port)
  echo "failover $old -> $new in $(( ($(date +%s%N) - began) / 1000000 )) ms" >>"$dir/faults"
  restart_node "$old"
}
cluster_moved() { local now; now=$(cluster_owner soak); [ -n "$now" ] && [ "$now" != "$1" ] && [ "$(role "$now")" = master ]; }

# Cuts the namespace off silently (packets dropped both ways, no reset), then heals it.
partition() {
  local chain
  for chain in INPUT OUTPUT; do ip netns exec "$netns" iptables -A "$chain" -j DROP; done
  sleep "$partition_secs"
  for chain in INPUT OUTPUT; do ip netns exec "$netns" iptables -D "$chain" -j DROP; done
  echo "partition of ${partition_secs}s" >>"$dir/faults"
}

# --- One phase: rounds of the producer under faults, five consumers, then the check. ---

declare -A consumer_pid
incarnation=0
start_consumer() {
  incarnation=$((incarnation + 1))
  "$bin/consumer" "$1" --redis-url "$url" "${flags[@]}" "${wait_flags[@]}" --city soak --batch "$batch" \
    --claim-idle 2s --require temperature:number \
    >"$dir/out.$1.$incarnation" 2>>"$dir/err.$1" &
  consumer_pid[$1]=$!
  pids+=($!)
}
start_consumers() {
  for name in alice bob carol; do start_consumer "$name"; done
  # dave is slow (--delay): what he claims takes him a while, so the others would steal it back
  # if he did not keep it in hand.
  incarnation=$((incarnation + 1))
  "$bin/consumer" dave --redis-url "$url" "${flags[@]}" "${wait_flags[@]}" --city soak --delay 2ms \
    --claim-idle 2s --require temperature:number \
    >"$dir/out.dave.$incarnation" 2>>"$dir/err.dave" &
  consumer_pid[dave]=$!
  pids+=($!)
  # erin works behind a --pipe handler that misbehaves: it prints each message and acks it, but
  # every 3000th message it stops reading for 3 s (past --handler-timeout: it is timed out and
  # restarted while its stdin is full), and every 5000th it prints a 128 KiB line (passed on in
  # pieces, never read as an answer).
  cat >"$dir/erin.awk" <<'AWK'
BEGIN { s = "x"; while (length(s) < 131072) s = s s }
{ print; print "ack", $2, $3; fflush() }
NR % 3000 == 0 { system("sleep 3") }
NR % 5000 == 0 { print s; fflush() }
AWK
  "$bin/consumer" erin --redis-url "$url" "${flags[@]}" "${wait_flags[@]}" --city soak \
    --pipe "awk -f $dir/erin.awk" --in-flight 50 \
    --handler-timeout 1s --claim-idle 2s --require temperature:number \
    >"$dir/out.erin" 2>>"$dir/err.erin" &
  consumer_pid[erin]=$!
  pids+=($!)
}

# Let the survivors drain: nothing pending, nothing left to deliver (the group's last delivered
# ID is the stream's last ID).
drained() {
  local last delivered
  last=$(cli --raw xinfo stream soak | awk 'f{print; exit} /^last-generated-id$/{f=1}')
  delivered=$(cli --raw xinfo groups soak | awk 'f{print; exit} /^last-delivered-id$/{f=1}')
  [ "$(cli --raw xpending soak mygroup | head -1)" = "0" ] && [ -n "$last" ] && [ "$last" = "$delivered" ]
}

# soak_phase NAME: the rounds, the faults of the topology set up, the drain and the check; adds
# a row to $work/table and a line to $work/notes.
soak_phase() {
  local phase=$1 now fault_pid="" fault_at=() restarted=0
  local kills=0 poison=0 round=0 client_kills=0 ghosted=0 failed_rounds=0
  : >"$dir/faults"
  : >"$dir/confirmed.days"
  start_consumers
  local began; began=$(date +%s)
  local deadline=$(( began + minutes * 60 ))
  case $topology in
    single)    fault_at=($(( began + minutes * 30 ))) ;;
    sentinel|partition) fault_at=($(( began + minutes * 20 )) $(( began + minutes * 40 ))) ;;
    cluster)   fault_at=($(( began + minutes * 30 ))) ;;
  esac
  echo "soak: $phase: $minutes min on $url (work dir $dir)"
  while [ "$(date +%s)" -lt "$deadline" ]; do
    now=$(date +%s)
    # The next fault, once it is due and the one before is over; the server restart of the single
    # soak is quick and done here, the others run beside the producer.
    if [ ${#fault_at[@]} -gt 0 ] && [ "$now" -ge "${fault_at[0]}" ] &&
       { [ -z "$fault_pid" ] || ! kill -0 "$fault_pid" 2>/dev/null; }; then
      fault_at=("${fault_at[@]:1}")
      case $topology in
        single)
          echo "soak: SIGKILL the server and restart it on port ${ports[0]}"
          kill_node "${ports[0]}"; sleep 0.2; restart_node "${ports[0]}"; restarted=1 ;;
        sentinel)  echo "soak: SIGKILL the master (port $(master_port))"; sentinel_failover & fault_pid=$! ;;
        cluster)   echo "soak: SIGKILL the master of soak (port $(master_port))"; cluster_failover & fault_pid=$! ;;
        partition) echo "soak: cut $host off for ${partition_secs}s"; partition & fault_pid=$! ;;
      esac
      [ -n "$fault_pid" ] && pids+=("$fault_pid")
    fi
    day=$(date -u -d "2018-08-15 + $round day" +%F)
    if "$bin/producer" --redis-url "$url" "${flags[@]}" "${wait_flags[@]}" --city soak --date "$day" \
         --count "$round_count" --retry-for 60s >/dev/null 2>>"$dir/err.producer"; then
      echo "$day" >>"$dir/confirmed.days"
    else
      failed_rounds=$((failed_rounds + 1))
      echo "soak: the producer of $day failed (see $dir/err.producer)" >&2
    fi
    # Kill a random consumer now and then while the round is being consumed, and start it again under the same name.
    if [ $((RANDOM % 2)) -eq 0 ]; then
      names=(alice bob carol); victim=${names[$((RANDOM % 3))]}
      kill -KILL "${consumer_pid[$victim]}" 2>/dev/null && kills=$((kills + 1))
      wait "${consumer_pid[$victim]}" 2>/dev/null || true
      start_consumer "$victim"
    fi
    # A consumer that dies holding a backlog: ghost reads 200 entries and never acks them, so the
    # living consumers claim them once they are idle, all four at once.
    ghosted=$((ghosted + $(cli --raw xreadgroup group mygroup ghost count 200 streams soak '>' 2>/dev/null | grep -cE '^[0-9]+-[0-9]+$' || true)))
    # Cut every client's connection now and then: the producer and the consumers reconnect.
    if [ $((RANDOM % 3)) -eq 0 ]; then
      cli client kill type normal skipme yes >/dev/null 2>&1 && client_kills=$((client_kills + 1))
    fi
    # A poison entry just after this round's last reading (before the next date's first).
    last_ms=$(( $(date -u -d "$day" +%s) * 1000 + (round_count - 1) * 1000 ))
    cli xadd soak "$((last_ms + 1))-0" sensor 1 temperature not-a-number >/dev/null 2>&1 && poison=$((poison + 1))
    round=$((round + 1))
    sleep 0.5
  done
  [ -z "$fault_pid" ] || wait "$fault_pid" || true

  for _ in $(seq 240); do drained && break; sleep 0.5; done
  drained || { echo "soak: consumers did not drain within 2 minutes" >&2; cli xinfo groups soak >&2 || true; }
  for name in alice bob carol dave erin; do kill -TERM "${consumer_pid[$name]}" 2>/dev/null || true; done
  for name in alice bob carol dave erin; do wait "${consumer_pid[$name]}" 2>/dev/null || true; done

  # The stream is the truth of what was produced; poison entries are not readings.
  cli --raw xrange soak - + | grep -E '^[0-9]+-[0-9]+$' | sort >"$dir/stream.ids"
  # Every reading a producer round confirmed (it exited 0): one a second from the day's start.
  while read -r day; do
    awk -v ms="$(( $(date -u -d "$day" +%s) * 1000 ))" -v n="$round_count" \
      'BEGIN { for (i = 0; i < n; i++) printf "%d-0\n", ms + i * 1000 }'
  done <"$dir/confirmed.days" | sort >"$dir/confirmed.ids"
  # The third word of each printed line is its ID (erin's long lines have no third word).
  grep -h . "$dir"/out.* | awk 'NF >= 3 {print $3}' | sort >"$dir/processed.ids" || true
  cli --raw xrange soak:dead - + | awk 'prev=="id"{print} {prev=$0}' | sort -u >"$dir/dead.ids"
  sort -u "$dir/processed.ids" "$dir/dead.ids" >"$dir/handled.ids"
  local produced dead processed unique duplicates lost unconfirmed in_hand stalls faults
  produced=$(wc -l <"$dir/stream.ids")   # readings and the injected poison entries the server kept
  dead=$(wc -l <"$dir/dead.ids")
  processed=$(wc -l <"$dir/processed.ids")
  unique=$(sort -u "$dir/processed.ids" | wc -l)
  duplicates=$((processed - unique))
  lost=$(sort -u "$dir/stream.ids" "$dir/confirmed.ids" | comm -23 - "$dir/handled.ids" | wc -l)
  # Confirmed readings the stream no longer holds (a failover dropped them; counted in lost).
  unconfirmed=$(comm -23 "$dir/confirmed.ids" "$dir/stream.ids" | wc -l)
  # In hand when a connection or a consumer was killed: a batch per consumer per kill.
  in_hand=$(( (kills + client_kills * 5) * batch ))
  # erin's handler restarts, from her summary (each a stall ridden out).
  stalls=$(grep -o '[0-9]* handler restarts' "$dir/err.erin" | awk '{s += $1} END {print s + 0}')
  faults=$(wc -l <"$dir/faults")
  stop_servers

  printf '%-10s %-10s %-10s %-11s %-14s %-5s\n' "$phase" "$produced" "$unique" "$duplicates" "$dead" "$lost" >>"$work/table"
  local what
  case $topology in
    single)    what="$restarted server restart" ;;
    sentinel)  what="$faults failovers (master SIGKILLed, restarted as a replica)" ;;
    cluster)   what="$faults failovers (a master SIGKILLed, restarted as a replica)" ;;
    partition) what="$faults partitions of ${partition_secs}s (iptables DROP both ways)" ;;
  esac
  printf '%s: %s rounds (%s failed), %s consumer SIGKILLs, %s CLIENT KILLs (at most %s messages in hand), %s entries held by a dead consumer and claimed, %s, %s poison entries injected, %s stalls of a --pipe handler ridden out\n' \
    "$phase" "$round" "$failed_rounds" "$kills" "$client_kills" "$in_hand" "$ghosted" "$what" "$poison" "$stalls" >>"$work/notes"
  [ "$faults" -eq 0 ] || sed "s/^/  $phase: /" "$dir/faults" >>"$work/notes"
  [ "$unconfirmed" -eq 0 ] || echo "  $phase: $unconfirmed confirmed readings missing from the stream" >>"$work/notes"
  if [ "$lost" -ne 0 ]; then
    echo "FAIL: $phase: $lost entries lost" >>"$work/failures"
  elif [ "$duplicates" -gt "$in_hand" ]; then
    case $topology in
      single) echo "  note: duplicates exceed the messages in hand at kills (the server restart can lose up to a second of acks)" >>"$work/notes" ;;
      *) echo "  note: $phase: duplicates exceed the messages in hand at kills (acks a failover or a partition did not let through)" >>"$work/notes" ;;
    esac
  fi
}

# Runs phase NAME in $work/NAME with its setup function.
run_phase() {
  dir=$work/$1
  mkdir -p "$dir"
  "setup_$1"
  soak_phase "$1"
  [ "$1" != partition ] || remove_netns
}

: >"$work/table"
: >"$work/notes"
: >"$work/failures"
if [ "$failover" = 0 ]; then
  run_phase single
  printf '\n%-10s %-10s %-11s %-14s %-5s\n' produced processed duplicates dead-lettered lost
  cut -c12- "$work/table"
  echo
  sed 's/^single: //; s/ (0 failed)//' "$work/notes"
else
  run_phase sentinel
  run_phase cluster
  if need_netfaults; then
    run_phase partition
  else
    echo "WARNING: the partition phase is skipped: it needs root, ip and iptables (see above)" >&2
    echo "partition: skipped (needs root, ip and iptables)" >>"$work/notes"
  fi
  printf '\n%-10s %-10s %-10s %-11s %-14s %-5s\n' phase produced processed duplicates dead-lettered lost
  cat "$work/table"
  echo
  cat "$work/notes"
fi
cat "$work/failures"
[ ! -s "$work/failures" ]
