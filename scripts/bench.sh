#!/usr/bin/env bash
# The performance benchmark of issue 5: our producer and consumer against a private Redis, next
# to redis-benchmark's pipelined XADD of the same entries, in one run; prints one table. Issue 6's
# cluster row: the same six cities produced and drained on that one server and on a private
# 3-master Redis Cluster.
#
#   scripts/bench.sh              # 7 rounds (medians of 7)
#   ROUNDS=15 scripts/bench.sh    # more rounds, steadier medians
#   CLUSTER=0 scripts/bench.sh    # without the cluster row (no cluster started; about half the time)
#   COUNTRY=0 scripts/bench.sh    # without the country row (4,000 cities live for 60 s)
#
# Builds release binaries, starts its own redis-server on a free port in a temp dir (never the one
# on 6379; stopped on exit), and runs the compared commands in turn within every round (A B A B
# ...), so a machine whose speed drifts during the run slows both sides alike. Every figure is
# the median over the rounds, except peak RSS, which is the largest seen. BENCHMARKS.md explains
# each number. Public tools only: redis-benchmark, redis-cli (--cluster create), GNU time,
# date +%s%N.
set -euo pipefail
cd "$(dirname "$0")/.."

ROUNDS=${ROUNDS:-7}
CLUSTER=${CLUSTER:-1}
COUNTRY=${COUNTRY:-1}
# The country row: CITIES x SENSORS readings every second for COUNTRY_SECONDS, from one process.
COUNTRY_CITIES=4000 COUNTRY_SENSORS=10 COUNTRY_SECONDS=${COUNTRY_SECONDS:-60}
# The cluster row's cities: on a 3-master cluster, hyderabad and kochi hash to the first master's
# slots, coimbatore and pune to the second's, chennai and jaipur to the third's.
SIX=(chennai coimbatore pune hyderabad kochi jaipur)
DATE=2018-08-15
DAY=86400
IDLE_EXIT_MS=300
PREFIX=bench:

# shellcheck source=scripts/lib/deps.sh
source scripts/lib/deps.sh
need_redis_server
need_gnu_time
command -v redis-benchmark >/dev/null || {
  echo "redis-benchmark is required: it comes with redis-server (Debian/Ubuntu: sudo apt-get install redis-tools)" >&2
  exit 1
}

echo "building release binaries ..." >&2
cargo build --release --locked --bins --quiet
BIN=target/release

work=$(mktemp -d)
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

now_ns() { date +%s%N; }
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

# Runs "$@" once; sets WALL_MS (wall time of the process), CPU_S (the server's CPU seconds in
# that time) and BUSY (server CPU / wall, percent).
timed() {
  local c0 c1 t0 t1
  c0=$(server_cpu)
  t0=$(now_ns)
  "$@"
  t1=$(now_ns)
  c1=$(server_cpu)
  WALL_MS=$(calc %.3f "($t1 - $t0) / 1e6")
  CPU_S=$(calc %.6f "$c1 - $c0")
  BUSY=$(calc %.1f "100 * ($c1 - $c0) / (($t1 - $t0) / 1e9)")
}

producer() { "$BIN/producer" --redis-url "$URL" --prefix "$PREFIX" --date "$DATE" "$@" >/dev/null; }
rb_xadd() {
  rcli del bench:rb >/dev/null
  redis-benchmark -p "$PORT" -c 1 -P 1000 -n "$DAY" -q \
    XADD bench:rb '*' sensor 1 temperature 27.4 humidity 71 >/dev/null
}
# The same XADDs from 10 connections in pipelines of 10: the server's cost per entry when readings
# arrive in small groups (as from live sensors) rather than in batches of 1000.
rb_small() {
  rcli del bench:rbs >/dev/null
  redis-benchmark -p "$PORT" -c 10 -P 10 -n "$DAY" -q \
    XADD bench:rbs '*' sensor 1 temperature 27.4 humidity 71 >/dev/null
}
cities() {
  local n=$1 args=() i
  for i in $(seq "$n"); do args+=(--city "c$i"); done
  producer --replace "${args[@]}"
}
# Consumers NAMES... drain bench:$STREAM (default chennai) in a fresh group created at START (0:
# the whole day, $: nothing), with the extra arguments in CONSUMER_ARGS (default --delay 0),
# stdout through a pipe to /dev/null.
STREAM=chennai
CONSUMER_ARGS=(--delay 0)
consumers() {
  local start=$1 name pids=()
  shift
  rcli xgroup destroy "bench:$STREAM" g >/dev/null
  rcli xgroup create "bench:$STREAM" g "$start" >/dev/null
  for name in "$@"; do
    "$BIN/consumer" "$name" --redis-url "$URL" --prefix "$PREFIX" --city "$STREAM" --group g \
      "${CONSUMER_ARGS[@]}" --idle-exit "${IDLE_EXIT_MS}ms" 2>>"$work/consumer.log" | cat >/dev/null &
    pids+=($!)
  done
  for name in "${pids[@]}"; do wait "$name"; done
  local pending lag
  pending=$(rcli xpending "bench:$STREAM" g | head -n 1)
  lag=$(rcli xinfo groups "bench:$STREAM" | awk 'prev == "lag" { print; exit } { prev = $0 }')
  [ "$pending" = 0 ] && [ "$lag" = 0 ] || {
    echo "consumers left pending=$pending lag=$lag; see $work/consumer.log" >&2
    exit 1
  }
}

# Consumers NAMES... drain the day; sets DRAIN_MS (their wall time less that of the same consumers
# on an empty group) and DRAIN_BUSY (the server's CPU over that drain time, percent).
drain() {
  local idle_ms idle_cpu
  timed consumers '$' "$@"
  idle_ms=$WALL_MS idle_cpu=$CPU_S
  timed consumers 0 "$@"
  DRAIN_MS=$(calc %.3f "$WALL_MS - $idle_ms")
  DRAIN_BUSY=$(calc %.1f "100 * ($CPU_S - $idle_cpu) * 1000 / $DRAIN_MS")
}

# The peer: a plain redis-py + hiredis loop (scripts/bench/peer_consumer.py: COUNT 1000, one XACK
# per batch) in a temp venv, draining the day from a fresh group; its own timing, start-up
# excluded. Sets PEER_MS, or leaves it empty when redis-py cannot be installed.
PEER_PY=""
if python3 -m venv "$work/venv" >/dev/null 2>&1 &&
  "$work/venv/bin/pip" install --quiet --disable-pip-version-check redis hiredis >/dev/null 2>&1; then
  PEER_PY=$work/venv/bin/python
  PEER_VERSIONS=$("$PEER_PY" -c 'import redis, hiredis; print(f"redis-py {redis.__version__}, hiredis {hiredis.__version__}")')
else
  echo "WARNING: the redis-py peer is NOT measured: python3 -m venv or pip install redis hiredis failed" >&2
fi
peer() {
  rcli xgroup destroy bench:chennai p >/dev/null
  rcli xgroup create bench:chennai p 0 >/dev/null
  local out
  out=$("$PEER_PY" scripts/bench/peer_consumer.py "$URL" bench:chennai p "$DAY")
  [ "${out%% *}" = "$DAY" ] || { echo "the peer acked ${out%% *} of $DAY" >&2; exit 1; }
  PEER_MS=$(calc %.3f "${out##* } * 1000")
}
# The handler rows: --pipe with the smallest handler that answers (awk) draining the day, and
# --exec true --jobs 2 over EXEC_N entries of their own stream.
EXEC_N=1000
PIPE_HANDLER='awk '"'"'{ print "ack", $2, $3; fflush() }'"'"''

# --- the cluster row: six cities, a day each, on the single server and on the 3-master cluster --
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
# read; 0: the whole day), stdout through a pipe; afterwards nothing may be pending or unread.
six_consume() {
  local group=$1 start=$2 c pending lag
  "$BIN/consumer" alice "${W[@]}" "${six_args[@]}" --group "$group" --start "$start" --delay 0 \
    --idle-exit "${IDLE_EXIT_MS}ms" 2>>"$work/consumer.log" | cat >/dev/null
  for c in "${SIX[@]}"; do
    pending=$(redis-cli "${WCLI[@]}" xpending "$c" "$group" | head -n 1)
    lag=$(redis-cli "${WCLI[@]}" xinfo groups "$c" |
      awk -v g="$group" 'prev == "name" { cur = $0 } prev == "lag" && cur == g { print; exit } { prev = $0 }')
    [ "$pending" = 0 ] && [ "$lag" = 0 ] || {
      echo "consumer left pending=$pending lag=$lag on $c (group $group); see $work/consumer.log" >&2
      exit 1
    }
  done
}
# WHERE ROUND: the drain of the six days, net of the same consumer on groups with nothing to read
# (as drain above); sets DRAIN_MS and DRAIN_CPU_MS (the servers' CPU in that time).
six_drain() {
  local idle_ms idle_cpu
  measure "$1" six_consume "idle$2" '$'
  idle_ms=$WALL_MS idle_cpu=$CPU_S
  measure "$1" six_consume "drain$2" 0
  DRAIN_MS=$(calc %.3f "$WALL_MS - $idle_ms")
  DRAIN_CPU_MS=$(calc %.3f "($CPU_S - $idle_cpu) * 1000")
}
if ((CLUSTER)); then
  echo "starting a private 3-master Redis Cluster ..." >&2
  start_cluster
fi
declare -a sp_node_ms sp_node_cpu sp_cluster_ms sp_cluster_cpu sk_node_ms sk_node_cpu \
  sk_cluster_ms sk_cluster_cpu

declare -a rbs_us p_ms p_busy rb_ms rb_busy ratio c1_ms c4_ms c8_ms c4_busy c8_busy \
  k1_ms k2_ms k1_busy k2_busy start_ms peer_ms pipe_ms exec_ms
rb_n=0
producer --replace --city exec --count "$EXEC_N"
for round in $(seq "$ROUNDS"); do
  echo "round $round of $ROUNDS ..." >&2
  # Producer vs redis-benchmark, the order flipped every round.
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
  # Consumers: one, then two in one group, each draining the day from a fresh group. Each run
  # comes right after the same consumers on an empty group (start, join, --idle-exit wait,
  # exit), whose wall time is taken off, leaving the drain.
  drain alice && k1_ms+=("$DRAIN_MS") && k1_busy+=("$DRAIN_BUSY")
  drain alice bob && k2_ms+=("$DRAIN_MS") && k2_busy+=("$DRAIN_BUSY")
  if [ -n "$PEER_PY" ]; then peer && peer_ms+=("$PEER_MS"); fi
  CONSUMER_ARGS=(--pipe "$PIPE_HANDLER")
  drain alice && pipe_ms+=("$DRAIN_MS")
  STREAM=exec CONSUMER_ARGS=(--exec true --jobs 2)
  drain alice && exec_ms+=("$DRAIN_MS")
  STREAM=chennai CONSUMER_ARGS=(--delay 0)
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

# --- the country row: a country's cities live from one producer, read by one consumer --------
# producer --live --cities-from (one writer, one pipeline per tick) and consumer --cities-from
# (one XREADGROUP over every stream), both under GNU time; the group's pending and lag summed
# over every stream, sampled every 10 s (the worst is printed); afterwards every entry is
# there exactly once (the XLENs add up, and the IDs are the server's, unique by construction).
if ((COUNTRY)); then
  echo "country row: $COUNTRY_CITIES cities x $COUNTRY_SENSORS sensors live for ${COUNTRY_SECONDS}s ..." >&2
  seq -f "land%g" "$COUNTRY_CITIES" >"$work/cities"
  # shellcheck disable=SC2016
  SUM_BEHIND='local p, l = 0, 0
for _, key in ipairs(KEYS) do
  if redis.call("EXISTS", key) == 1 then
    for _, g in ipairs(redis.call("XINFO", "GROUPS", key)) do
      for i = 1, #g, 2 do
        if g[i] == "pending" then p = p + g[i + 1] end
        if g[i] == "lag" and g[i + 1] then l = l + g[i + 1] end
      end
    end
  end
end
return {p, l}'
  mapfile -t country_keys < <(sed "s/^/$PREFIX/" "$work/cities")
  rcli del "${country_keys[@]}" >/dev/null
  /usr/bin/time -f "%M %U %S %e" -o "$work/country-producer" "$BIN/producer" --redis-url "$URL" \
    --prefix "$PREFIX" --cities-from "$work/cities" --sensors "$COUNTRY_SENSORS" --live \
    --interval 1s --count "$COUNTRY_SECONDS" >"$work/country.out" 2>>"$work/country.err" &
  country_pid=$!
  /usr/bin/time -f "%M %U %S %e" -o "$work/country-consumer" "$BIN/consumer" alice \
    --redis-url "$URL" --prefix "$PREFIX" --cities-from "$work/cities" --group country \
    --idle-exit 3s 2>>"$work/country.err" | cat >/dev/null &
  country_consumer=$!
  worst_pending=0 worst_lag=0
  while kill -0 "$country_pid" 2>/dev/null; do
    for _ in $(seq 100); do kill -0 "$country_pid" 2>/dev/null && sleep 0.1; done
    read -r sampled_pending sampled_lag < <(rcli eval "$SUM_BEHIND" "${#country_keys[@]}" "${country_keys[@]}" | tr '\n' ' '; echo)
    ((sampled_pending > worst_pending)) && worst_pending=$sampled_pending
    ((sampled_lag > worst_lag)) && worst_lag=$sampled_lag
  done
  wait "$country_pid"
  wait "$country_consumer"
  country_entries=0
  for key in "${country_keys[@]}"; do
    country_entries=$((country_entries + $(rcli xlen "$key")))
  done
  country_expected=$((COUNTRY_CITIES * COUNTRY_SENSORS * COUNTRY_SECONDS))
  ((country_entries == country_expected)) || {
    echo "country row: $country_entries entries, expected $country_expected; see $work/country.err" >&2
    exit 1
  }
  read -r left_pending left_lag < <(rcli eval "$SUM_BEHIND" "${#country_keys[@]}" "${country_keys[@]}" | tr '\n' ' '; echo)
  ((left_pending == 0 && left_lag == 0)) || {
    echo "country row: the consumer left pending=$left_pending lag=$left_lag" >&2
    exit 1
  }
  country_lag_ms=$(sed -n 's/.*the worst \([0-9]*\) ms behind its time.*/\1/p' "$work/country.out" | sort -n | tail -n 1)
  read -r cp_rss cp_user cp_sys cp_wall <"$work/country-producer"
  read -r cc_rss cc_user cc_sys cc_wall <"$work/country-consumer"
  rcli del "${country_keys[@]}" >/dev/null
fi

# Peak RSS from the OS (GNU time's %M, KiB), largest of the rounds.
declare -a rss_p rss_p10 rss_k
for round in $(seq "$ROUNDS"); do
  echo "peak RSS $round of $ROUNDS ..." >&2
  /usr/bin/time -f %M -o "$work/rss" "$BIN/producer" --redis-url "$URL" --prefix "$PREFIX" \
    --date "$DATE" --replace --city rss >/dev/null
  rss_p+=("$(tail -n 1 "$work/rss")")
  /usr/bin/time -f %M -o "$work/rss" "$BIN/producer" --redis-url "$URL" --prefix "$PREFIX" \
    --date "$DATE" --replace --city rss10 --sensors 10 >/dev/null
  rss_p10+=("$(tail -n 1 "$work/rss")")
  rcli xgroup destroy bench:chennai g >/dev/null
  rcli xgroup create bench:chennai g 0 >/dev/null
  /usr/bin/time -f %M -o "$work/rss" "$BIN/consumer" alice --redis-url "$URL" --prefix "$PREFIX" \
    --group g --delay 0 --idle-exit "${IDLE_EXIT_MS}ms" 2>/dev/null | cat >/dev/null
  rss_k+=("$(tail -n 1 "$work/rss")")
done
p10_len=$(rcli xlen bench:rss10)
memory=$(rcli memory usage bench:chennai samples 0)
memory10=$(rcli memory usage bench:rss10 samples 0)

# --- the table ---------------------------------------------------------------------------------
P_MS=$(median "${p_ms[@]}")
RB_MS=$(median "${rb_ms[@]}")
C1=$(median "${c1_ms[@]}")
C4=$(median "${c4_ms[@]}")
C8=$(median "${c8_ms[@]}")
K1=$(median "${k1_ms[@]}")
K2=$(median "${k2_ms[@]}")
mib() { calc %.1f "$1 / 1024"; }

cpu_model=$(lscpu | awk -F: '/^Model name/ { gsub(/^[ \t]+/, "", $2); print $2; exit }')
echo
echo "monsoon scripts/bench.sh: $(date -u +%Y-%m-%dT%H:%MZ), $ROUNDS rounds, medians (peak RSS: largest)"
echo "CPU: ${cpu_model:-unknown} ($(nproc) CPUs) | $(redis-server --version | awk '{ print $1, $2, $3 }') | private server on port $PORT"
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
printf '%-58s %10s %11s %8s\n' "consumer drain of the day, --delay 0, stdout piped" "drain ms" "msgs/s" "busy"
printf '%-58s %10.1f %11.0f %7.0f%%\n' "1 consumer" "$K1" "$(calc %.1f "$DAY / $K1 * 1000")" "$(median "${k1_busy[@]}")"
printf '%-58s %10.1f %11.0f %7.0f%%\n' "2 consumers, one group" "$K2" "$(calc %.1f "$DAY / $K2 * 1000")" "$(median "${k2_busy[@]}")"
printf '%-58s %10.2f   (target >= 1.0)\n' "ratio: 2 consumers' rate / 1 consumer's" "$(calc %.4f "$K1 / $K2")"
echo "  (target: one consumer >= 600,000 msgs/s, or the server >= 80% busy; the pair >= 1.0x one,"
echo "   or the server >= 80% busy)"
if [ -n "$PEER_PY" ]; then
  PEER=$(median "${peer_ms[@]}")
  printf '%-58s %10.1f %11.0f\n' "peer: redis-py + hiredis, COUNT 1000, XACK per batch" "$PEER" \
    "$(calc %.1f "$DAY / $PEER * 1000")"
  printf '%-58s %10.2f   (target >= 2.0, unless the server is >= 80%% busy)\n' \
    "ratio: 1 consumer's rate / the peer's" "$(calc %.4f "$PEER / $K1")"
  echo "  ($PEER_VERSIONS; its own timing from the first read to the last ack, start-up excluded,"
  echo "   as the consumer's drain time is: net of a run with nothing to read)"
fi
PIPE=$(median "${pipe_ms[@]}")
EXEC=$(median "${exec_ms[@]}")
printf '%-58s %10.1f %11.0f   (target >= 250,000)\n' "consumer --pipe \"awk: ack each line\", the day" "$PIPE" \
  "$(calc %.1f "$DAY / $PIPE * 1000")"
printf '%-58s %10.1f %11.0f   (target >= 800)\n' "consumer --exec true --jobs 2, $EXEC_N entries" "$EXEC" \
  "$(calc %.1f "$EXEC_N / $EXEC * 1000")"
echo
printf '%-58s %10s\n' "peak RSS (GNU time %M)" "MiB"
printf '%-58s %10s\n' "producer, one day ($DAY entries)" "$(mib "$(max "${rss_p[@]}")")"
printf '%-58s %10s\n' "producer, --sensors 10 ($p10_len entries)" "$(mib "$(max "${rss_p10[@]}")")"
printf '%-58s %10s\n' "consumer, draining one day" "$(mib "$(max "${rss_k[@]}")")"
echo "  (target: <= 20 MiB each)"
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

if ((COUNTRY)); then
  echo
  printf '%-58s %10s\n' "a country live: $COUNTRY_CITIES cities x $COUNTRY_SENSORS sensors, 1s, ${COUNTRY_SECONDS}s" ""
  printf '%-58s %10s   (target: all, exactly once)\n' "entries present / written" "$country_entries / $country_expected"
  printf '%-58s %10s   (target <= 1000)\n' "producer: worst tick behind its time (ms)" "$country_lag_ms"
  printf '%-58s %10s   (target <= 64)\n' "producer: peak RSS (MiB)" "$(mib "$cp_rss")"
  printf '%-58s %10s   (target <= 50%%)\n' "producer: CPU, % of one core (user + sys / wall)" \
    "$(calc %.1f "100 * ($cp_user + $cp_sys) / $cp_wall")%"
  printf '%-58s %10s\n' "consumer --cities-from: worst pending / lag (10 s samples)" "$worst_pending / $worst_lag"
  printf '%-58s %10s\n' "consumer: peak RSS (MiB), CPU % of one core" \
    "$(mib "$cc_rss"), $(calc %.1f "100 * ($cc_user + $cc_sys) / $cc_wall")%"
  echo "  (one producer process: one thread pipelines every city's tick; one consumer: one XREADGROUP"
  echo "   names all $COUNTRY_CITIES streams. Keeping up: pending and lag stay near one tick's entries,"
  echo "   $((COUNTRY_CITIES * COUNTRY_SENSORS)), and end at 0.)"
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
