#!/usr/bin/env bash
# The performance benchmark (issues 5, 6, 14 and the third round): our producer and consumer
# against a private Redis, next to the peers they are read against, in one run; prints one table.
#
#   scripts/bench.sh              # 7 rounds (medians of 7)
#   ROUNDS=15 scripts/bench.sh    # more rounds, steadier medians
#   CLUSTER=0 scripts/bench.sh    # no cluster started: without the 6-cities row and the cluster country row
#   COUNTRY=0 scripts/bench.sh    # without the country rows (4,000 cities live for COUNTRY_SECONDS, 60)
#   CALLGRIND=0 scripts/bench.sh  # without the instruction counts (valgrind; about a minute)
#   DECODE=1 scripts/bench.sh     # also the decode micro-benchmark (cargo bench --bench decode)
#   ROUNDS=1 COUNTRY_SECONDS=10 scripts/bench.sh   # a quick check that every row prints
#
# The rows:
# - instructions per message (valgrind --tool=callgrind: the same count for the same binary and
#   input whatever else runs, where wall times on a shared machine are not): the consumer's human
#   lines and --json, the C floor client (scripts/bench/floor.c) silent and printing, C + hiredis
#   (scripts/bench/hiredis_peer.c), and the producer per entry; each a drain of the day net of
#   the same run on a group with nothing to read (the producer: a day less a --count 1 run);
# - producer vs redis-benchmark's pipelined XADD; cities in parallel;
# - drains of the day, by wall clock: the consumer, the C floor printing and silent, C + hiredis,
#   redis-py + hiredis (scripts/bench/peer_consumer.py), 2 consumers; the server's busy share;
# - handlers: --pipe with awk against awk alone over the same lines, with the XACK round trips;
#   --exec true --jobs 2 against posix_spawn of true (scripts/bench/spawn_loop.c); --exec-batch;
# - peak RSS and the consumer's whole CPU (GNU time), MEMORY USAGE, start-up; 6 cities on one node
#   against a 3-master cluster; a country live (4,000 cities x 10 sensors) on one node and on the
#   cluster; the server's cost per entry, for sizing.
#
# Method. It builds the release binaries and the C clients (cc -O2), starts its own redis-server
# on a free port in a temp dir (never the one on 6379; stopped on exit) and, for the cluster rows,
# a private 3-master cluster. Within every round it runs the compared commands one after the other
# (A B A B ..., the order of a pair flipped every other round), so a machine whose speed drifts
# slows both sides alike. Every side of a ratio is timed the same way: a whole process (or
# pipeline) by the wall clock, with nothing but the measured command inside the timed window
# (groups are created, keys deleted and results checked outside it); a drain is net of the same
# command on a group with nothing to read (start, connect, one read, exit; the consumer's ends with
# its --idle-exit wait). Every figure is the median over the rounds, except peak RSS, which is the
# largest seen. BENCHMARKS.md explains each number. Public tools only: redis-benchmark, redis-cli
# (--cluster create), GNU time, valgrind, cc (with hiredis), bash's EPOCHREALTIME.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-7}
CLUSTER=${CLUSTER:-1}
COUNTRY=${COUNTRY:-1}
CALLGRIND=${CALLGRIND:-1}
DECODE=${DECODE:-0}
# The country row: CITIES x SENSORS readings every second for COUNTRY_SECONDS, from one process.
COUNTRY_CITIES=4000 COUNTRY_SENSORS=10 COUNTRY_SECONDS=${COUNTRY_SECONDS:-60}
# The cluster row's cities: on a 3-master cluster, hyderabad and kochi hash to the first master's
# slots, coimbatore and pune to the second's, chennai and jaipur to the third's.
SIX=(chennai coimbatore pune hyderabad kochi jaipur)
DATE=2018-08-15
DAY=86400
IDLE_EXIT_MS=300
PREFIX=bench:
KEY=${PREFIX}chennai # the day every drain reads

# shellcheck source=scripts/lib/deps.sh
source scripts/lib/deps.sh
need_redis_server
need_gnu_time
need_cc
need_hiredis
((CALLGRIND)) && need_valgrind
command -v redis-benchmark >/dev/null || {
  echo "redis-benchmark is required: it comes with redis-server (Debian/Ubuntu: sudo apt-get install redis-tools)" >&2
  exit 1
}

echo "building release binaries and the C clients ..." >&2
cargo build --release --locked --bins --quiet
BIN=target/release
work=$(mktemp -d)
cc -O2 -o "$work/floor" scripts/bench/floor.c
cc -O2 -o "$work/hiredis_peer" scripts/bench/hiredis_peer.c -lhiredis
cc -O2 -o "$work/spawn_loop" scripts/bench/spawn_loop.c
# --exec-batch is newer than this script: its row says so when the binary lacks it.
EXEC_BATCH=0
consumer_help=$("$BIN/consumer" --help)
grep -q -- --exec-batch <<<"$consumer_help" && EXEC_BATCH=1

server_pids=() # every redis-server this script started: the single server and the cluster's
cleanup() {
  local pid
  for pid in "${server_pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  for pid in "${server_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Starts a private redis-server in DIR (created) with extra ARGS on a free port, and sets
# NODE_PORT. A free port: pick one at random below 50000 (a cluster node's bus port is its port +
# 10000, so it must stay below 55536), let redis-server try to bind it, retry on failure.
start_node() {
  local dir=$1 attempt pid
  shift
  mkdir -p "$dir"
  for attempt in 1 2 3 4 5 6 7 8 9 10; do
    NODE_PORT=$((20000 + RANDOM % 30000))
    redis-cli -p "$NODE_PORT" ping >/dev/null 2>&1 && continue # someone is there already
    redis-server --bind 127.0.0.1 --port "$NODE_PORT" --dir "$dir" --save '' --appendonly no \
      --logfile "$dir/redis.log" "$@" &
    pid=$!
    server_pids+=("$pid")
    for _ in $(seq 50); do
      if redis-cli -p "$NODE_PORT" ping >/dev/null 2>&1; then return; fi
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.05
    done
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    echo "redis-server could not start on port $NODE_PORT (attempt $attempt); trying another" >&2
  done
  echo "could not start a private redis-server; see $dir/redis.log" >&2
  exit 1
}
start_node "$work"
PORT=$NODE_PORT
URL=redis://127.0.0.1:$PORT
rcli() { redis-cli -p "$PORT" "$@"; }

# A private Redis Cluster of three masters, no replicas: three cluster-mode servers joined with
# redis-cli --cluster create; sets CPORTS (in creation order: the first master holds slots 0-5460)
# and CURL (the seed: the first node). Returns once every node reports cluster_state:ok.
start_cluster() {
  local i p
  CPORTS=()
  for i in 1 2 3; do
    start_node "$work/node$i" --cluster-enabled yes --cluster-config-file nodes.conf \
      --cluster-node-timeout 5000
    CPORTS+=("$NODE_PORT")
  done
  redis-cli --cluster create "${CPORTS[@]/#/127.0.0.1:}" --cluster-replicas 0 --cluster-yes \
    </dev/null >"$work/cluster-create.log" 2>&1 || {
    cat "$work/cluster-create.log" >&2
    echo "redis-cli --cluster create failed" >&2
    exit 1
  }
  for p in "${CPORTS[@]}"; do
    for i in $(seq 200); do
      redis-cli -p "$p" cluster info | grep -q '^cluster_state:ok' && break
      ((i < 200)) || { echo "cluster node on port $p never reported cluster_state:ok" >&2; exit 1; }
      sleep 0.05
    done
  done
  CURL=redis://127.0.0.1:${CPORTS[0]}
}

# The CPU seconds (user + system, from INFO CPU) used so far by the servers on CPU_PORTS, summed:
# the single server by default, the three masters while the cluster is measured.
CPU_PORTS=("$PORT")
server_cpu() {
  local p
  for p in "${CPU_PORTS[@]}"; do redis-cli -p "$p" info cpu; done | tr -d '\r' |
    awk -F: '/^used_cpu_(sys|user):/ { s += $2 } END { printf "%.6f", s }'
}
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
max() { printf '%s\n' "$@" | sort -g | tail -n 1; }
calc() { awk "BEGIN { printf \"$1\", $2 }"; }

# Runs "$@" once; sets WALL_MS (wall time of the command), CPU_S (the server's CPU seconds in that
# time) and BUSY (server CPU / wall, percent). The clock is bash's own (EPOCHREALTIME, in us), so
# that no process but the measured one starts inside the window; the server's CPU is read just
# outside it.
timed() {
  local c0 c1 t0 t1
  c0=$(server_cpu)
  t0=${EPOCHREALTIME/[.,]/}
  "$@"
  t1=${EPOCHREALTIME/[.,]/}
  c1=$(server_cpu)
  WALL_MS=$(calc %.3f "($t1 - $t0) / 1e3")
  CPU_S=$(calc %.6f "$c1 - $c0")
  BUSY=$(calc %.1f "100 * ($c1 - $c0) / (($t1 - $t0) / 1e6)")
}

# Group g on KEY, created afresh at START (0: the whole stream; $: nothing to read).
fresh_group() {
  rcli xgroup destroy "$1" g >/dev/null
  rcli xgroup create "$1" g "$2" >/dev/null
}
# Ends the run unless group g on KEY has nothing pending and nothing unread: every side must have
# acked every message it was timed on.
drained() {
  local pending lag
  pending=$(rcli xpending "$1" g | head -n 1)
  lag=$(rcli xinfo groups "$1" | awk 'prev == "name" { cur = $0 } prev == "lag" && cur == "g" { print; exit } { prev = $0 }')
  if [ "$pending" != 0 ] || [ "$lag" != 0 ]; then
    echo "$2 left pending=$pending lag=$lag on $1; see $work/*.log" >&2
    exit 1
  fi
}
# The server's XACK and XREADGROUP calls since the last CONFIG RESETSTAT: sets XACKS and XREADS.
commandstats() {
  local stats
  stats=$(rcli info commandstats | tr -d '\r')
  XACKS=$(awk -F'[=,]' '/^cmdstat_xack:/ { print $2 }' <<<"$stats")
  XREADS=$(awk -F'[=,]' '/^cmdstat_xreadgroup:/ { print $2 }' <<<"$stats")
  XACKS=${XACKS:-0} XREADS=${XREADS:-0}
}
# KEY SIDE...: the side (a command that drains group g of KEY) once on a group with nothing to
# read, then on a fresh group over the whole stream; sets DRAIN_MS (the difference of the two wall
# times), DRAIN_BUSY (the server's CPU in that difference over DRAIN_MS, percent) and XACKS /
# XREADS (the server's calls during the drain). Afterwards nothing may be pending or unread.
net_drain() {
  local key=$1 idle_ms idle_cpu
  shift
  fresh_group "$key" '$'
  timed "$@"
  idle_ms=$WALL_MS idle_cpu=$CPU_S
  fresh_group "$key" 0
  rcli config resetstat >/dev/null
  timed "$@"
  commandstats
  drained "$key" "$*"
  DRAIN_MS=$(calc %.3f "$WALL_MS - $idle_ms")
  DRAIN_BUSY=$(calc %.1f "100 * ($CPU_S - $idle_cpu) * 1000 / $DRAIN_MS")
}
# "$@" twice: with IDLE_ARGS, then with WORK_ARGS appended; sets NET_MS, the difference.
net_run() {
  local idle_ms
  timed "$@" "${IDLE_ARGS[@]}"
  idle_ms=$WALL_MS
  timed "$@" "${WORK_ARGS[@]}"
  NET_MS=$(calc %.3f "$WALL_MS - $idle_ms")
}

# Every program below runs under RUN (empty; valgrind for the instruction counts).
RUN=()
producer() { "${RUN[@]}" "$BIN/producer" --redis-url "$URL" --prefix "$PREFIX" --date "$DATE" "$@" >/dev/null; }
rb_xadd() {
  redis-benchmark -p "$PORT" -c 1 -P 1000 -n "$DAY" -q \
    XADD bench:rb '*' sensor 1 temperature 27.4 humidity 71 >/dev/null
}
# The same XADDs from 10 connections in pipelines of 10: the server's cost per entry when readings
# arrive in small groups (as from live sensors) rather than in batches of 1000.
rb_small() {
  redis-benchmark -p "$PORT" -c 10 -P 10 -n "$DAY" -q \
    XADD bench:rbs '*' sensor 1 temperature 27.4 humidity 71 >/dev/null
}
cities() {
  local n=$1 args=() i
  for i in $(seq "$n"); do args+=(--city "c$i"); done
  producer --replace "${args[@]}"
}
# The drains' sides, each reading group g. Consumers NAMES... on bench:$STREAM (default chennai),
# started together, with the extra arguments in CONSUMER_ARGS (default --delay 0), stdout through
# a pipe to cat, as a consumer's output goes.
STREAM=chennai
CONSUMER_ARGS=(--delay 0)
consumers() {
  local name pids=()
  for name in "$@"; do
    "${RUN[@]}" "$BIN/consumer" "$name" --redis-url "$URL" --prefix "$PREFIX" --city "$STREAM" \
      --group g "${CONSUMER_ARGS[@]}" --idle-exit "${IDLE_EXIT_MS}ms" 2>>"$work/consumer.log" |
      cat >/dev/null &
    pids+=($!)
  done
  for name in "${pids[@]}"; do wait "$name"; done
}
# The C floor (N 0: until a read returns nothing), printing the consumer's lines through a pipe to
# cat, or silent; C + hiredis, silent; redis-py + hiredis, silent (when it could be installed).
floor_print() { "${RUN[@]}" "$work/floor" "$PORT" "$KEY" g alice 0 print 2>>"$work/peers.log" | cat >/dev/null; }
floor_silent() { "${RUN[@]}" "$work/floor" "$PORT" "$KEY" g alice 0 >/dev/null 2>>"$work/peers.log"; }
hiredis_silent() { "${RUN[@]}" "$work/hiredis_peer" "$PORT" "$KEY" g alice 0 2>>"$work/peers.log"; }
py_silent() { "$PEER_PY" scripts/bench/peer_consumer.py "$URL" "$KEY" g 0 >>"$work/peers.log"; }

# The redis-py + hiredis peer lives in a temp venv; PEER_PY stays empty when it cannot be installed.
PEER_PY=""
if python3 -m venv "$work/venv" >/dev/null 2>&1 &&
  "$work/venv/bin/pip" install --quiet --disable-pip-version-check redis hiredis >/dev/null 2>&1; then
  PEER_PY=$work/venv/bin/python
  PEER_VERSIONS=$("$PEER_PY" -c 'import redis, hiredis; print(f"redis-py {redis.__version__}, hiredis {hiredis.__version__}")')
else
  echo "WARNING: the redis-py peer is NOT measured: python3 -m venv or pip install redis hiredis failed" >&2
fi

# The handler rows: --pipe with the smallest handler that answers (awk), against the same awk
# alone over the plain consumer's lines (made once, below); --exec true --jobs 2 over EXEC_N
# entries of their own stream, against spawn_loop (posix_spawn of /bin/true, 2 at a time).
EXEC_N=1000
# shellcheck disable=SC2016 # awk's fields, not the shell's
AWK_ACK='{ print "ack", $2, $3; fflush() }'
PIPE_HANDLER="awk '$AWK_ACK'"
awk_alone() { awk "$AWK_ACK" <"$1" >/dev/null; }
spawn_loop() { "$work/spawn_loop" "$1" 2; }

# --- the cluster rows: six cities, a day each, on the single server and on the 3-master cluster -
# No --prefix here: a prefix would move the keys to other slots. WHERE is node or cluster.
six_args=()
for c in "${SIX[@]}"; do six_args+=(--city "$c"); done
where_args() {
  if [ "$1" = cluster ]; then
    W=(--redis-url "$CURL" --cluster) WCLI=(-c -p "${CPORTS[0]}") CPU_PORTS=("${CPORTS[@]}")
  else
    W=(--redis-url "$URL") WCLI=(-p "$PORT") CPU_PORTS=("$PORT")
  fi
}
# Runs "$@" under timed, counting the CPU of WHERE's servers (all three masters for the cluster).
measure() {
  where_args "$1"
  shift
  timed "$@"
  CPU_PORTS=("$PORT")
}
six_produce() { "$BIN/producer" "${W[@]}" "${six_args[@]}" --date "$DATE" --replace >/dev/null; }
# One consumer reads all six streams in group GROUP, which it creates at START ($: nothing to
# read; 0: the whole day), stdout through a pipe.
six_consume() {
  "$BIN/consumer" alice "${W[@]}" "${six_args[@]}" --group "$1" --start "$2" --delay 0 \
    --idle-exit "${IDLE_EXIT_MS}ms" 2>>"$work/consumer.log" | cat >/dev/null
}
# Afterwards nothing may be pending or unread in GROUP on any of the six.
six_drained() {
  local c pending lag
  for c in "${SIX[@]}"; do
    pending=$(redis-cli "${WCLI[@]}" xpending "$c" "$1" | head -n 1)
    lag=$(redis-cli "${WCLI[@]}" xinfo groups "$c" |
      awk -v g="$1" 'prev == "name" { cur = $0 } prev == "lag" && cur == g { print; exit } { prev = $0 }')
    if [ "$pending" != 0 ] || [ "$lag" != 0 ]; then
      echo "consumer left pending=$pending lag=$lag on $c (group $1); see $work/consumer.log" >&2
      exit 1
    fi
  done
}
# WHERE ROUND: the drain of the six days, net of the same consumer on groups with nothing to read
# (as net_drain); sets DRAIN_MS and DRAIN_CPU_MS (the servers' CPU in that time).
six_drain() {
  local idle_ms idle_cpu
  measure "$1" six_consume "idle$2" '$'
  idle_ms=$WALL_MS idle_cpu=$CPU_S
  measure "$1" six_consume "drain$2" 0
  where_args "$1" && six_drained "drain$2" && CPU_PORTS=("$PORT")
  DRAIN_MS=$(calc %.3f "$WALL_MS - $idle_ms")
  DRAIN_CPU_MS=$(calc %.3f "($CPU_S - $idle_cpu) * 1000")
}
if ((CLUSTER)); then
  echo "starting a private 3-master Redis Cluster ..." >&2
  start_cluster
fi

# --- before the rounds: the day, its lines, and the check that the C floor prints them alike --
producer --replace
producer --replace --city exec --count "$EXEC_N"
# A few readings 250 ms apart: lines with milliseconds in their time (the day has none).
producer --replace --city ms --interval 250ms --count 8
check_lines() { # KEY: the consumer's lines and the C floor's must be the same, byte for byte
  fresh_group "$1" 0
  "$BIN/consumer" alice --redis-url "$URL" --city "$1" --group g --delay 0 \
    --idle-exit "${IDLE_EXIT_MS}ms" 2>>"$work/consumer.log" >"$work/lines"
  fresh_group "$1" 0
  "$work/floor" "$PORT" "$1" g alice 0 print 2>>"$work/peers.log" >"$work/floor-lines"
  cmp -s "$work/lines" "$work/floor-lines" || {
    diff "$work/lines" "$work/floor-lines" | head >&2
    echo "the C floor's lines differ from the consumer's on $1" >&2
    exit 1
  }
}
check_lines "${PREFIX}ms"
check_lines "$KEY" # leaves the day's lines in $work/lines, for awk alone
LINES_N=$(wc -l <"$work/lines")

# --- instruction counts: callgrind, once (they do not vary from run to run) -------------------
# SIDE... under valgrind --tool=callgrind; sets INSTR, the whole process's instructions (the
# summary line of the output file).
callgrind() {
  rm -f "$work/callgrind.out"
  RUN=(valgrind --tool=callgrind --callgrind-out-file="$work/callgrind.out")
  "$@" 2>>"$work/callgrind.log"
  RUN=()
  INSTR=$(awk '/^(summary|totals):/ { print $2; exit }' "$work/callgrind.out")
}
# SIDE...: instructions per message of a drain of the day, net of the same side on a group with
# nothing to read; sets PER_MSG.
callgrind_drain() {
  local idle
  fresh_group "$KEY" '$'
  callgrind "$@"
  idle=$INSTR
  fresh_group "$KEY" 0
  callgrind "$@"
  drained "$KEY" "$*"
  PER_MSG=$(((INSTR - idle) / DAY))
}
declare -A instr
if ((CALLGRIND)); then
  echo "instruction counts (callgrind) ..." >&2
  callgrind_drain consumers alice && instr[consumer]=$PER_MSG
  CONSUMER_ARGS=(--delay 0 --json)
  callgrind_drain consumers alice && instr[json]=$PER_MSG
  CONSUMER_ARGS=(--delay 0)
  callgrind_drain floor_print && instr[floor_print]=$PER_MSG
  callgrind_drain floor_silent && instr[floor_silent]=$PER_MSG
  callgrind_drain hiredis_silent && instr[hiredis]=$PER_MSG
  callgrind producer --replace --city cg --count 1
  one=$INSTR
  callgrind producer --replace --city cg
  instr[producer]=$(((INSTR - one) / (DAY - 1)))
fi

declare -a sp_node_ms sp_node_cpu sp_cluster_ms sp_cluster_cpu sk_node_ms sk_node_cpu \
  sk_cluster_ms sk_cluster_cpu
declare -a rbs_us p_ms p_busy rb_ms rb_busy ratio c1_ms c4_ms c8_ms c4_busy c8_busy \
  k1_ms k2_ms k1_busy k2_busy k1_xacks k1_xreads start_ms fp_ms fp_busy fs_ms fs_busy hr_ms \
  hr_busy py_ms py_busy pipe_ms pipe_xacks pipe_xreads awk_ms exec_ms spawn_ms batch_ms
rb_n=0
for round in $(seq "$ROUNDS"); do
  echo "round $round of $ROUNDS ..." >&2
  # Producer vs redis-benchmark, the order flipped every round.
  rcli del bench:rb bench:rbs >/dev/null
  if ((round % 2)); then
    timed rb_xadd && rb_ms+=("$WALL_MS") && rb_busy+=("$BUSY")
    timed producer --replace && p_ms+=("$WALL_MS") && p_busy+=("$BUSY")
  else
    timed producer --replace && p_ms+=("$WALL_MS") && p_busy+=("$BUSY")
    timed rb_xadd && rb_ms+=("$WALL_MS") && rb_busy+=("$BUSY")
  fi
  # redis-benchmark sends whole pipelines: -n 86400 -P 1000 is 87 x 1000 = 87,000 XADDs.
  rb_n=$(rcli xlen bench:rb)
  timed rb_small && rbs_us+=("$(calc %.4f "$CPU_S * 1e6 / $(rcli xlen bench:rbs)")")
  ratio+=("$(calc %.4f "${p_ms[-1]} / (${rb_ms[-1]} * $DAY / $rb_n)")")
  # N cities in parallel vs one city.
  timed cities 1 && c1_ms+=("$WALL_MS")
  timed cities 4 && c4_ms+=("$WALL_MS") && c4_busy+=("$BUSY")
  timed cities 8 && c8_ms+=("$WALL_MS") && c8_busy+=("$BUSY")
  # Drains of the day: the consumer and the C floor printing (its ratio's two sides, the order
  # flipped every round), the floor silent, C + hiredis, redis-py, and two consumers in one group.
  if ((round % 2)); then pair=(consumer floor); else pair=(floor consumer); fi
  for side in "${pair[@]}"; do
    if [ "$side" = consumer ]; then
      net_drain "$KEY" consumers alice
      k1_ms+=("$DRAIN_MS") k1_busy+=("$DRAIN_BUSY") k1_xacks+=("$XACKS") k1_xreads+=("$XREADS")
    else
      net_drain "$KEY" floor_print && fp_ms+=("$DRAIN_MS") fp_busy+=("$DRAIN_BUSY")
    fi
  done
  net_drain "$KEY" floor_silent && fs_ms+=("$DRAIN_MS") fs_busy+=("$DRAIN_BUSY")
  net_drain "$KEY" hiredis_silent && hr_ms+=("$DRAIN_MS") hr_busy+=("$DRAIN_BUSY")
  if [ -n "$PEER_PY" ]; then net_drain "$KEY" py_silent && py_ms+=("$DRAIN_MS") py_busy+=("$DRAIN_BUSY"); fi
  net_drain "$KEY" consumers alice bob && k2_ms+=("$DRAIN_MS") k2_busy+=("$DRAIN_BUSY")
  # Handlers, each beside its floor: awk alone over the lines (net of awk on no input), spawn_loop
  # (net of spawn_loop 0).
  CONSUMER_ARGS=(--pipe "$PIPE_HANDLER")
  net_drain "$KEY" consumers alice && pipe_ms+=("$DRAIN_MS") pipe_xacks+=("$XACKS") pipe_xreads+=("$XREADS")
  IDLE_ARGS=(/dev/null) WORK_ARGS=("$work/lines")
  net_run awk_alone && awk_ms+=("$NET_MS")
  STREAM=exec CONSUMER_ARGS=(--exec true --jobs 2)
  net_drain "${PREFIX}exec" consumers alice && exec_ms+=("$DRAIN_MS")
  IDLE_ARGS=(0) WORK_ARGS=("$EXEC_N")
  net_run spawn_loop && spawn_ms+=("$NET_MS")
  STREAM=chennai
  if ((EXEC_BATCH)); then
    CONSUMER_ARGS=(--exec-batch 100 --exec 'cat >/dev/null')
    net_drain "$KEY" consumers alice && batch_ms+=("$DRAIN_MS")
  fi
  CONSUMER_ARGS=(--delay 0)
  # Process start, connection and a first command: a one-entry run.
  timed producer --replace --city start --count 1 && start_ms+=("$WALL_MS")
  # The cluster row: 1 node and 3 masters, the order flipped every round.
  if ((CLUSTER)); then
    if ((round % 2)); then order=(node cluster); else order=(cluster node); fi
    for where in "${order[@]}"; do
      measure "$where" six_produce
      ms=$WALL_MS cpu=$(calc %.3f "$CPU_S * 1000")
      if [ "$where" = node ]; then sp_node_ms+=("$ms") sp_node_cpu+=("$cpu"); else sp_cluster_ms+=("$ms") sp_cluster_cpu+=("$cpu"); fi
    done
    for where in "${order[@]}"; do
      six_drain "$where" "$round"
      if [ "$where" = node ]; then sk_node_ms+=("$DRAIN_MS") sk_node_cpu+=("$DRAIN_CPU_MS"); else sk_cluster_ms+=("$DRAIN_MS") sk_cluster_cpu+=("$DRAIN_CPU_MS"); fi
    done
  fi
done

# --- the country rows: a country's cities live from one producer, read by one consumer -------
# producer --live --cities-from (one writer, one pipeline per tick) and consumer --cities-from
# (one XREADGROUP over every stream), both under GNU time, on the single server and (with the
# cluster) on the 3 masters with --cluster; the group's pending and lag summed over every stream
# of every master, sampled every 10 s (the worst is printed); afterwards every entry is there
# exactly once (the XLENs add up, and the IDs are the server's, unique by construction) and
# nothing is pending or unread.
# Sums pending, lag and XLEN over the streams named in ARGV that this server holds: on a cluster
# node a key of another master's slots is an error, caught and skipped, so that the sums over the
# three masters count each stream once (allow-cross-slot-keys: the keys span many slots).
# shellcheck disable=SC2016
SUM_BEHIND='#!lua flags=no-writes,allow-cross-slot-keys
local p, l, n = 0, 0, 0
for _, key in ipairs(ARGV) do
  local ok, there = pcall(redis.call, "EXISTS", key)
  if ok and there == 1 then
    n = n + redis.call("XLEN", key)
    for _, g in ipairs(redis.call("XINFO", "GROUPS", key)) do
      for i = 1, #g, 2 do
        if g[i] == "pending" then p = p + g[i + 1] end
        if g[i] == "lag" and g[i + 1] then l = l + g[i + 1] end
      end
    end
  end
end
return {p, l, n}'
# Sets BEHIND_PENDING, BEHIND_LAG and BEHIND_ENTRIES, summed over the servers on PORTS.
behind() {
  local p sums
  BEHIND_PENDING=0 BEHIND_LAG=0 BEHIND_ENTRIES=0
  for p in "${BEHIND_PORTS[@]}"; do
    read -r -a sums < <(redis-cli -p "$p" eval "$SUM_BEHIND" 0 "${country_keys[@]}" | tr '\n' ' '; echo)
    BEHIND_PENDING=$((BEHIND_PENDING + sums[0])) BEHIND_LAG=$((BEHIND_LAG + sums[1]))
    BEHIND_ENTRIES=$((BEHIND_ENTRIES + sums[2]))
  done
}
declare -A ctry
country() { # WHERE: node or cluster; the results in ctry[WHERE.*]
  local where=$1 pid consumer_pid worst_pending=0 worst_lag=0
  local expected=$((COUNTRY_CITIES * COUNTRY_SENSORS * COUNTRY_SECONDS))
  where_args "$where"
  CPU_PORTS=("$PORT")
  if [ "$where" = cluster ]; then BEHIND_PORTS=("${CPORTS[@]}"); else BEHIND_PORTS=("$PORT"); fi
  echo "country row ($where): $COUNTRY_CITIES cities x $COUNTRY_SENSORS sensors live for ${COUNTRY_SECONDS}s ..." >&2
  /usr/bin/time -f "%M %U %S %e" -o "$work/country-producer" "$BIN/producer" "${W[@]}" \
    --prefix "$PREFIX" --cities-from "$work/cities" --sensors "$COUNTRY_SENSORS" --live \
    --interval 1s --count "$COUNTRY_SECONDS" >"$work/country.out" 2>>"$work/country.err" &
  pid=$!
  /usr/bin/time -f "%M %U %S %e" -o "$work/country-consumer" "$BIN/consumer" alice "${W[@]}" \
    --prefix "$PREFIX" --cities-from "$work/cities" --group country \
    --idle-exit 3s 2>>"$work/country.err" | cat >/dev/null &
  consumer_pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null && sleep 0.1; done
    behind
    ((BEHIND_PENDING > worst_pending)) && worst_pending=$BEHIND_PENDING
    ((BEHIND_LAG > worst_lag)) && worst_lag=$BEHIND_LAG
  done
  wait "$pid"
  wait "$consumer_pid"
  behind
  ((BEHIND_ENTRIES == expected)) || {
    echo "country row ($where): $BEHIND_ENTRIES entries, expected $expected; see $work/country.err" >&2
    exit 1
  }
  ((BEHIND_PENDING == 0 && BEHIND_LAG == 0)) || {
    echo "country row ($where): the consumer left pending=$BEHIND_PENDING lag=$BEHIND_LAG" >&2
    exit 1
  }
  ctry[$where.expected]=$expected ctry[$where.entries]=$BEHIND_ENTRIES ctry[$where.pending]=$worst_pending ctry[$where.lag]=$worst_lag
  ctry[$where.tick_ms]=$(sed -n 's/.*the worst \([0-9]*\) ms behind its time.*/\1/p' "$work/country.out" | sort -n | tail -n 1)
  read -r ctry["$where.p_rss"] ctry["$where.p_user"] ctry["$where.p_sys"] ctry["$where.p_wall"] <"$work/country-producer"
  read -r ctry["$where.c_rss"] ctry["$where.c_user"] ctry["$where.c_sys"] ctry["$where.c_wall"] <"$work/country-consumer"
}
country_where=()
if ((COUNTRY)); then
  seq -f "land%g" "$COUNTRY_CITIES" >"$work/cities"
  mapfile -t country_keys < <(sed "s/^/$PREFIX/" "$work/cities")
  country_where=(node)
  ((CLUSTER)) && country_where+=(cluster)
  rcli del "${country_keys[@]}" >/dev/null
  country node
  rcli del "${country_keys[@]}" >/dev/null
  if ((CLUSTER)); then
    country cluster
    for p in "${CPORTS[@]}"; do redis-cli -p "$p" flushall >/dev/null; done # the cluster rows are done
  fi
fi

# Peak RSS from the OS (GNU time's %M, KiB), largest of the rounds; the consumer's whole CPU
# (GNU time's user + sys, whole process) for a drain of the day and for a run with nothing to read.
declare -a rss_p rss_p10 rss_k cpu_k cpu_idle
gnu_time() { /usr/bin/time -f "%M %U %S" -o "$work/rss" "$@"; }
for round in $(seq "$ROUNDS"); do
  echo "peak RSS $round of $ROUNDS ..." >&2
  gnu_time "$BIN/producer" --redis-url "$URL" --prefix "$PREFIX" --date "$DATE" --replace --city rss >/dev/null
  rss_p+=("$(tail -n 1 "$work/rss" | cut -d' ' -f1)")
  gnu_time "$BIN/producer" --redis-url "$URL" --prefix "$PREFIX" --date "$DATE" --replace --city rss10 --sensors 10 >/dev/null
  rss_p10+=("$(tail -n 1 "$work/rss" | cut -d' ' -f1)")
  for start in '$' 0; do
    fresh_group "$KEY" "$start"
    gnu_time "$BIN/consumer" alice --redis-url "$URL" --prefix "$PREFIX" --group g --delay 0 \
      --idle-exit "${IDLE_EXIT_MS}ms" 2>>"$work/consumer.log" | cat >/dev/null
    read -r rss user sys < <(tail -n 1 "$work/rss")
    if [ "$start" = 0 ]; then
      drained "$KEY" consumer
      rss_k+=("$rss") cpu_k+=("$(calc %.0f "($user + $sys) * 1000")")
    else
      cpu_idle+=("$(calc %.0f "($user + $sys) * 1000")")
    fi
  done
done
p10_len=$(rcli xlen bench:rss10)
memory=$(rcli memory usage "$KEY" samples 0)
memory10=$(rcli memory usage bench:rss10 samples 0)

# The decode micro-benchmark (criterion, in-process, a batch of 500), only with DECODE=1: it
# builds the bench profile (minutes the first time) and takes about a minute to run.
decode_lines=""
if ((DECODE)); then
  echo "cargo bench --bench decode ..." >&2
  decode_lines=$(cargo bench --locked --quiet --bench decode -- --warm-up-time 1 --measurement-time 2 2>/dev/null |
    awk '/^decode\// { name = $0; sub(/ +time:.*/, "", name) }
      name && /time:/ { t = $0; sub(/.*\[/, "", t); split(t, v, " "); printf "%-58s %10s %s\n", name, v[3], v[4]; name = "" }') || true
fi

# --- the table ---------------------------------------------------------------------------------
P_MS=$(median "${p_ms[@]}")
RB_MS=$(median "${rb_ms[@]}")
C1=$(median "${c1_ms[@]}")
# shellcheck disable=SC2034 # C4 and C8 are read as ${!var}
C4=$(median "${c4_ms[@]}") C8=$(median "${c8_ms[@]}")
K1=$(median "${k1_ms[@]}")
K2=$(median "${k2_ms[@]}")
FP=$(median "${fp_ms[@]}")
mib() { calc %.1f "$1 / 1024"; }
rate() { calc %.1f "$1 / $2 * 1000"; } # MESSAGES MS: per second

cpu_model=$(lscpu | awk -F: '/^Model name/ { gsub(/^[ \t]+/, "", $2); print $2; exit }')
echo
echo "monsoon scripts/bench.sh: $(date -u +%Y-%m-%dT%H:%MZ), $ROUNDS rounds, medians (peak RSS: largest)"
echo "CPU: ${cpu_model:-unknown} ($(nproc) CPUs) | $(redis-server --version | awk '{ print $1, $2, $3 }') | private server on port $PORT"

if ((CALLGRIND)); then
  echo
  printf '%-58s %10s   %s\n' "instructions per message (callgrind, start-up netted out)" "instr" "target"
  instr_row() { printf '%-58s %10s   %s\n' "$1" "$(sed ':a; s/\B[0-9]\{3\}\>/,&/; ta' <<<"$2")" "$3"; }
  instr_row "consumer, human lines, stdout piped" "${instr[consumer]}" "<= 4,500"
  instr_row "consumer --json" "${instr[json]}" "<= 6,000"
  instr_row "C floor client, printing the same lines" "${instr[floor_print]}" "(for reference: ~4,100)"
  instr_row "C floor client, silent" "${instr[floor_silent]}" "(for reference: ~1,500)"
  instr_row "C + hiredis, silent" "${instr[hiredis]}" ""
  instr_row "producer, per entry (a day less a --count 1 run)" "${instr[producer]}" "<= 1,500"
  echo "  (valgrind --tool=callgrind, the whole process: a drain of the day less the same run on a"
  echo "   group with nothing to read, / $DAY; the same count whatever else runs on the machine)"
fi

echo
printf '%-58s %10s %11s %8s\n' "producer vs redis-benchmark" "wall ms" "records/ms" "busy"
printf '%-58s %10.1f %11.1f %7.0f%%\n' "producer --date $DATE --replace ($DAY entries)" \
  "$P_MS" "$(calc %.4f "$DAY / $P_MS")" "$(median "${p_busy[@]}")"
printf '%-58s %10.1f %11.1f %7.0f%%\n' "redis-benchmark -c 1 -P 1000 -n $DAY XADD ($rb_n entries)" \
  "$RB_MS" "$(calc %.4f "$rb_n / $RB_MS")" "$(median "${rb_busy[@]}")"
printf '%-58s %10.2f   (target <= 1.0)\n' "ratio: producer / redis-benchmark, per $DAY entries" \
  "$(median "${ratio[@]}")"
echo
printf '%-58s %10s %11s %8s\n' "cities in parallel (--city repeated)" "wall ms" "N x 1 city" "ratio"
for n in 1 4 8; do
  var=C$n
  printf '%-58s %10.1f %11.1f %8.2f\n' "$n x $DAY entries" "${!var}" \
    "$(calc %.3f "$n * $C1")" "$(calc %.4f "${!var} / ($n * $C1)")"
done
echo "  (target: ratio <= 1.0; server busy with 4 cities: $(median "${c4_busy[@]}")%, with 8: $(median "${c8_busy[@]}")%)"

echo
printf '%-58s %10s %11s %8s\n' "drain of the day ($DAY messages), net of an idle run" "drain ms" "msgs/s" "busy"
drain_row() { # LABEL MS BUSY
  printf '%-58s %10.1f %11.0f %7.0f%%\n' "$1" "$2" "$(rate "$DAY" "$2")" "$3"
}
drain_row "consumer, --delay 0, stdout piped to cat" "$K1" "$(median "${k1_busy[@]}")"
drain_row "C floor client, printing its lines, piped to cat" "$FP" "$(median "${fp_busy[@]}")"
drain_row "C floor client, silent" "$(median "${fs_ms[@]}")" "$(median "${fs_busy[@]}")"
drain_row "C + hiredis, silent" "$(median "${hr_ms[@]}")" "$(median "${hr_busy[@]}")"
if [ -n "$PEER_PY" ]; then
  drain_row "redis-py + hiredis, silent, COUNT 1000, XACK per batch" "$(median "${py_ms[@]}")" "$(median "${py_busy[@]}")"
fi
drain_row "2 consumers, one group" "$K2" "$(median "${k2_busy[@]}")"
printf '%-58s %10.2f   (target >= 0.95)\n' "ratio: consumer's rate / the C floor's, printing" "$(calc %.4f "$FP / $K1")"
printf '%-58s %9.0f%%   (target >= 85%%)\n' "server busy during the consumer's drain" "$(median "${k1_busy[@]}")"
printf '%-58s %10.2f   (target >= 1.0, or the server >= 80%% busy)\n' "ratio: 2 consumers' rate / 1 consumer's" "$(calc %.4f "$K1 / $K2")"
if [ -n "$PEER_PY" ]; then
  printf '%-58s %10.2f   (target >= 2.0, unless the server is >= 80%% busy)\n' \
    "ratio: consumer's rate / redis-py's" "$(calc %.4f "$(median "${py_ms[@]}") / $K1")"
fi
printf '%-58s %10s\n' "round trips of the consumer's drain: XACK / XREADGROUP" \
  "$(median "${k1_xacks[@]}") / $(median "${k1_xreads[@]}")"
echo "  (each a whole process, or pipeline, by the wall clock, less the same command on a group with"
echo "   nothing to read: start, connect, one read, exit; the consumer's ends with its ${IDLE_EXIT_MS} ms"
echo "   --idle-exit wait. C clients: COUNT 500, the XACK of a batch in the write of the next read."
if [ -n "$PEER_PY" ]; then echo "   $PEER_VERSIONS.)"; else echo "   The redis-py peer could not be installed.)"; fi

echo
printf '%-58s %10s %11s %8s\n' "handlers" "net ms" "msgs/s" "ratio"
PIPE=$(median "${pipe_ms[@]}") AWK=$(median "${awk_ms[@]}")
printf '%-58s %10.1f %11.0f %8s   (target >= 250,000)\n' "consumer --pipe \"awk: ack each line\", the day" "$PIPE" "$(rate "$DAY" "$PIPE")" ""
printf '%-58s %10.1f %11.0f\n' "awk alone, the same lines from a file to /dev/null" "$AWK" "$(rate "$LINES_N" "$AWK")"
printf '%-58s %10s %11s %8.2f   (target >= 0.6)\n' "ratio: --pipe's rate / awk alone's" "" "" "$(calc %.4f "$AWK / $PIPE")"
printf '%-58s %10s   (target: XACK <= XREADGROUP)\n' "round trips of the --pipe drain: XACK / XREADGROUP" \
  "$(median "${pipe_xacks[@]}") / $(median "${pipe_xreads[@]}")"
EXEC=$(median "${exec_ms[@]}") SPAWN=$(median "${spawn_ms[@]}")
printf '%-58s %10.1f %11.0f %8s   (target >= 800)\n' "consumer --exec true --jobs 2, $EXEC_N entries" "$EXEC" "$(rate "$EXEC_N" "$EXEC")" ""
printf '%-58s %10.1f %11.0f\n' "spawn_loop: posix_spawn /bin/true x $EXEC_N, 2 at a time" "$SPAWN" "$(rate "$EXEC_N" "$SPAWN")"
printf '%-58s %10s %11s %8.2f   (target >= 0.9)\n' "ratio: --exec's rate / spawn_loop's" "" "" "$(calc %.4f "$SPAWN / $EXEC")"
if ((EXEC_BATCH)); then
  BATCH=$(median "${batch_ms[@]}")
  printf '%-58s %10.1f %11.0f\n' "consumer --exec-batch 100 --exec 'cat >/dev/null', the day" "$BATCH" "$(rate "$DAY" "$BATCH")"
else
  printf '%-58s %10s\n' "consumer --exec-batch 100 --exec 'cat >/dev/null', the day" "not available in this build"
fi
echo "  (net of the same command on nothing: the consumer on a group with nothing to read, awk on"
echo "   /dev/null, spawn_loop 0. Round trips: INFO commandstats calls, CONFIG RESETSTAT before the drain.)"

echo
printf '%-58s %10s\n' "peak RSS (GNU time %M)" "MiB"
printf '%-58s %10s\n' "producer, one day ($DAY entries)" "$(mib "$(max "${rss_p[@]}")")"
printf '%-58s %10s\n' "producer, --sensors 10 ($p10_len entries)" "$(mib "$(max "${rss_p10[@]}")")"
printf '%-58s %10s\n' "consumer, draining one day" "$(mib "$(max "${rss_k[@]}")")"
echo "  (target: <= 20 MiB each)"
printf '%-58s %10s\n' "consumer's whole CPU (GNU time user + sys), ms: a drain" "$(median "${cpu_k[@]}")"
printf '%-58s %10s\n' "  the same on a group with nothing to read" "$(median "${cpu_idle[@]}")"
echo "  (start, the drain or nothing, the ${IDLE_EXIT_MS} ms idle wait, exit; GNU time counts in 10 ms steps)"
echo
printf '%-58s %10s\n' "MEMORY USAGE of the day's stream (SAMPLES 0)" "$(calc %.2f "$memory / 1e6") MB"
echo "  (the original demo's stream: 2.3 MB)"
printf '%-58s %10s\n' "MEMORY USAGE of --sensors 10's stream ($p10_len entries)" "$(calc %.2f "$memory10 / 1e6") MB"
printf '%-58s %10.1f   (target < 20 ms)\n' "process start to first command: producer --count 1 (ms)" "$(median "${start_ms[@]}")"

if ((CLUSTER)); then
  SIXN=$((${#SIX[@]} * DAY))
  echo
  printf '%-58s %10s %11s %8s %7s\n' "${#SIX[@]} cities x $DAY entries: 1 node vs 3 masters" \
    "wall ms" "entries/ms" "srv CPU" "busy"
  six_row() { # LABEL WALL_MSES... -- CPU_MSES...
    local label=$1 ms cpu
    ms=$(median "${@:2:ROUNDS}") cpu=$(median "${@:ROUNDS+2}")
    printf '%-58s %10.1f %11.1f %5.0f ms %6.0f%%\n' "$label" "$ms" "$(calc %.4f "$SIXN / $ms")" "$cpu" \
      "$(calc %.4f "100 * $cpu / $ms")"
  }
  six_row "producer --replace, 6 x --city, 1 node" "${sp_node_ms[@]}" "${sp_node_cpu[@]}"
  six_row "producer --replace, 6 x --city, 3 masters (--cluster)" "${sp_cluster_ms[@]}" "${sp_cluster_cpu[@]}"
  six_row "1 consumer drains all six, --delay 0, 1 node" "${sk_node_ms[@]}" "${sk_node_cpu[@]}"
  six_row "1 consumer drains all six, --delay 0, 3 masters" "${sk_cluster_ms[@]}" "${sk_cluster_cpu[@]}"
  printf '%-58s %10.2f\n' "wall ratio 3 masters / 1 node: producer" \
    "$(calc %.4f "$(median "${sp_cluster_ms[@]}") / $(median "${sp_node_ms[@]}")")"
  printf '%-58s %10.2f\n' "wall ratio 3 masters / 1 node: consumer drain" \
    "$(calc %.4f "$(median "${sk_cluster_ms[@]}") / $(median "${sk_node_ms[@]}")")"
  echo "  (srv CPU: the servers' own CPU, summed over the three masters; busy = srv CPU / wall, of one core."
  echo "   This machine has $(nproc) CPUs: the three masters share the same cores as the single server"
  echo "   and the client, so no speed-up from the masters is expected here: at most the single"
  echo "   server's idle second core, which the client needs too. On separate machines each master"
  echo "   brings its own core. With --cluster the consumer reads each master's streams in a thread"
  echo "   of its own, on 1 node all six in one, so its drain ratio also measures client threads.)"
fi

for where in "${country_where[@]}"; do
  if [ "$where" = node ]; then on="1 node"; else on="3 masters, --cluster"; fi
  echo
  printf '%-58s %10s\n' "a country live ($on): $COUNTRY_CITIES cities x $COUNTRY_SENSORS sensors, 1s, ${COUNTRY_SECONDS}s" ""
  printf '%-58s %10s   (target: all, exactly once)\n' "entries present / written" "${ctry[$where.entries]} / ${ctry[$where.expected]}"
  printf '%-58s %10s   (target <= 1000)\n' "producer: worst tick behind its time (ms)" "${ctry[$where.tick_ms]}"
  printf '%-58s %10s   (target <= 64)\n' "producer: peak RSS (MiB)" "$(mib "${ctry[$where.p_rss]}")"
  printf '%-58s %10s   (target <= 50%%)\n' "producer: CPU, % of one core (user + sys / wall)" \
    "$(calc %.1f "100 * (${ctry[$where.p_user]} + ${ctry[$where.p_sys]}) / ${ctry[$where.p_wall]}")%"
  printf '%-58s %10s   (target <= %s each, 0 at the end)\n' "consumer --cities-from: worst pending / lag (10 s samples)" \
    "${ctry[$where.pending]} / ${ctry[$where.lag]}" "$((COUNTRY_CITIES * COUNTRY_SENSORS))"
  printf '%-58s %10s\n' "consumer: peak RSS (MiB), CPU % of one core" \
    "$(mib "${ctry[$where.c_rss]}"), $(calc %.1f "100 * (${ctry[$where.c_user]} + ${ctry[$where.c_sys]}) / ${ctry[$where.c_wall]}")%"
done
if ((${#country_where[@]})); then
  echo "  (one producer process: one thread pipelines every city's tick (one pipeline per master on the"
  echo "   cluster); one consumer: one XREADGROUP names all $COUNTRY_CITIES streams (on the cluster, one"
  echo "   thread per master). Keeping up: pending and lag, summed over every stream of every master,"
  echo "   stay within one tick's entries, $((COUNTRY_CITIES * COUNTRY_SENSORS)), and end at 0.)"
fi

# What a large deployment is sized from (README): the server's cost per entry, and memory.
echo
printf '%-58s %10s %11s\n' "per entry, for sizing" "server us" "M/s/core"
per_entry() { # LABEL MICROSECONDS
  printf '%-58s %10.3f %11.2f\n' "$1" "$2" "$(calc %.4f "1 / $2")"
}
if ((CLUSTER)); then
  per_entry "XADD, producer, batches of 1000 (6 cities, 1 node)" \
    "$(calc %.4f "$(median "${sp_node_cpu[@]}") * 1000 / $SIXN")"
  per_entry "XREADGROUP + XACK, 1 consumer, --delay 0 (6 cities, 1 node)" \
    "$(calc %.4f "$(median "${sk_node_cpu[@]}") * 1000 / $SIXN")"
fi
per_entry "XADD, redis-benchmark -c 10 -P 10 (pipelines of 10)" "$(median "${rbs_us[@]}")"
printf '%-58s %10.1f\n' "MEMORY USAGE bytes per entry: a day, 1 sensor" "$(calc %.4f "$memory / $DAY")"
printf '%-58s %10.1f\n' "MEMORY USAGE bytes per entry: a day, --sensors 10" "$(calc %.4f "$memory10 / $p10_len")"
echo "  (server us: the server's own CPU per entry, median; M/s/core: millions of entries per second"
echo "   one fully busy server core would take at that cost)"

if ((DECODE)); then
  echo
  printf '%-58s %10s\n' "cargo bench --bench decode (criterion, median estimate)" "time"
  if [ -n "$decode_lines" ]; then echo "$decode_lines"; else echo "  (cargo bench printed no times)"; fi
else
  echo
  echo "decode micro-benchmark: not run (DECODE=1 runs cargo bench --bench decode -- --warm-up-time 1 --measurement-time 2)"
fi
