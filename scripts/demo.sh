#!/usr/bin/env bash
# The narrated walkthrough of the original Redis Streams weather demo, every step with this
# toolkit's release binaries, each announced with the command it runs:
#
#   1. produce a day for chennai          6. bob leaves with Ctrl-C; alice goes on alone
#   2. read it: range and reverse range   7. bob comes back and dies holding a message (SIGKILL)
#   3. tail two cities while a live       8. alice claims it after the idle time
#      producer writes                    9. a handler behind alice; a rejected reading is
#   4. the group: alice alone                dead-lettered after its last delivery
#   5. bob joins: they share the work     10. the memory a day takes in Redis
#
#   scripts/demo.sh                  # pauses between steps (Enter on a terminal)
#   scripts/demo.sh --fast           # unattended, in well under a minute
#   scripts/demo.sh --tmux [--fast]  # producer, alice, bob and `inspect watch` in tmux panes
#   scripts/demo.sh --web [...]      # also the live page (`inspect serve`) for a browser:
#                                    # http://127.0.0.1:8080/ (MONSOON_WEB_PORT, or a free port)
#   scripts/demo.sh --failover [...] # then step 11: a master, a replica and three sentinels;
#                                    # the master dies while alice and bob consume
#   REDIS_URL=redis://host:6379 scripts/demo.sh
#
# Without REDIS_URL it starts a private redis-server on a free port in a temp dir, stopped on
# exit. On a server it did not start it writes only under a fresh prefix (demo-<pid>-), deletes
# only those keys at the end, and never prints the URL's password.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

FAST=0 TMUX_MODE=0 IN_TMUX=0 WEB=0 FAILOVER=0 ENV_FILE=""
while [ $# -gt 0 ]; do
  case $1 in
    --fast) FAST=1 ;;
    --tmux) TMUX_MODE=1 ;;
    --web) WEB=1 ;;
    --failover) FAILOVER=1 ;;
    --in-tmux) IN_TMUX=1 ;;         # internal: the narrator pane of --tmux
    --env-file) ENV_FILE=$2; shift ;; # internal: REDIS_URL handed to that pane
    -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
    *) echo "demo.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
  esac
  shift
done

# --tmux: run this script again as the first pane of a new tmux session, and show that session.
if [ "$TMUX_MODE" = 1 ] && [ "$IN_TMUX" = 0 ]; then
  command -v tmux >/dev/null || {
    echo "demo.sh --tmux needs tmux (Debian/Ubuntu: sudo apt-get install tmux; macOS: brew install tmux)" >&2
    exit 1
  }
  session="monsoon-demo-$$"
  handoff=$(mktemp -d "${TMPDIR:-/tmp}/monsoon-demo-tmux.XXXXXX")
  trap 'rm -rf "$handoff"' EXIT
  # The URL may hold a password: hand it over in a private file, not on a command line.
  (umask 077; printf 'export REDIS_URL=%q\n' "${REDIS_URL:-}" >"$handoff/env")
  inner="bash $(printf '%q' "$ROOT/scripts/demo.sh") --in-tmux --env-file $(printf '%q' "$handoff/env")"
  [ "$FAST" = 1 ] && inner="$inner --fast"
  [ "$WEB" = 1 ] && inner="$inner --web"
  [ "$FAILOVER" = 1 ] && inner="$inner --failover"
  inner="$inner 2>&1 | tee $(printf '%q' "$handoff/narration.log"); echo \${PIPESTATUS[0]} > $(printf '%q' "$handoff/status")"
  tmux new-session -d -s "$session" -x 200 -y 50 -n demo "bash -c $(printf '%q' "$inner"); tmux kill-session -t $session"
  if [ -t 1 ] && [ -z "${TMUX:-}" ]; then
    tmux attach -t "$session" || true
  elif [ -t 1 ]; then
    tmux switch-client -t "$session" || true
  else
    echo "demo.sh: running in tmux session $session (tmux attach -t $session to watch)"
  fi
  while tmux has-session -t "$session" 2>/dev/null; do sleep 1; done
  [ -t 1 ] || cat "$handoff/narration.log" 2>/dev/null || true
  exit "$(cat "$handoff/status" 2>/dev/null || echo 1)"
fi

if [ -n "$ENV_FILE" ]; then
  # shellcheck source=/dev/null
  source "$ENV_FILE"
  rm -f "$ENV_FILE"
  [ -n "${REDIS_URL:-}" ] || unset REDIS_URL
fi

# ---------------------------------------------------------------------------------------------
# Narration

if [ -t 1 ]; then BOLD=$'\033[1m' DIM=$'\033[2m' PLAIN=$'\033[0m'; else BOLD="" DIM="" PLAIN=""; fi
say() { printf '\n%s==> %s%s\n' "$BOLD" "$*" "$PLAIN"; }
note() { printf '%s    %s%s\n' "$DIM" "$*" "$PLAIN"; }
show() { printf '$ %s\n' "$*"; }
run() { show "$*"; "$@"; }
pause() {
  [ "$FAST" = 1 ] && return
  if [ -t 0 ]; then read -rp "    (Enter for the next step) " _; else sleep 2; fi
}
fail() { echo "demo.sh: $*" >&2; exit 1; }

# wait_for WHAT SECONDS COMMAND...: polls COMMAND every 100 ms until it succeeds.
wait_for() {
  local what=$1 limit=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || fail "timed out after ${limit}s waiting for $what"
    sleep 0.1
  done
}

# ---------------------------------------------------------------------------------------------
# Background processes: plain background jobs, or panes of the tmux window with --tmux.

WORK=$(mktemp -d "${TMPDIR:-/tmp}/monsoon-demo.XXXXXX")
SERVER_PID="" OWN_SERVER=0 STARTED=$SECONDS

pid_of() { cat "$WORK/$1.pid" 2>/dev/null || true; }
# A killed pane process can linger as a zombie of the tmux server: that counts as gone.
alive() {
  local pid
  pid=$(pid_of "$1")
  [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null && [ "$(ps -o stat= -p "$pid" 2>/dev/null | cut -c1)" != Z ]
}
gone() { ! alive "$1"; }
lines_of() { grep -c "^$1 " "$WORK/$1.log" 2>/dev/null || true; }
has_lines() { [ "$(lines_of "$1")" -ge "$2" ]; }

# spawn NAME COMMAND...: starts COMMAND in the background, its output in $WORK/NAME.log.
spawn() {
  local name=$1
  shift
  show "$* &"
  : >"$WORK/$name.log"
  if [ "$IN_TMUX" = 1 ]; then
    # The pane shows the output and the log keeps it; `inspect watch` gets the pane's terminal
    # itself, so that it redraws in place.
    # shellcheck disable=SC2016
    local body='exec "$@" > >(tee "$log") 2>&1'
    # shellcheck disable=SC2016
    [ "$name" = watch ] && body='exec "$@"'
    local pane
    pane=$(tmux split-window -d -P -F '#{pane_id}' -t "$TMUX_PANE" -e "PATH=$PATH" -e "REDIS_URL=$REDIS_URL" \
      -e "MONSOON_PREFIX=$MONSOON_PREFIX" \
      bash -c 'echo $$ >"$1"; log=$2; shift 2; '"$body" _ "$WORK/$name.pid" "$WORK/$name.log" "$@")
    tmux select-pane -t "$pane" -T "$name"
    tmux select-layout -t "$TMUX_PANE" tiled >/dev/null
    wait_for "$name to start" 10 test -s "$WORK/$name.pid"
  else
    "$@" >"$WORK/$name.log" 2>&1 &
    echo $! >"$WORK/$name.pid"
  fi
}

# stop NAME SIGNAL: sends SIGNAL and waits until the process is gone.
stop() {
  local pid
  pid=$(pid_of "$1")
  [ -n "$pid" ] || return 0
  kill "-$2" "$pid" 2>/dev/null || true
  wait_for "$1 to exit" 30 gone "$1"
  wait "$pid" 2>/dev/null || true
}

cleanup() {
  local status=$?
  trap - EXIT INT TERM
  for pidfile in "$WORK"/*.pid; do
    [ -e "$pidfile" ] || continue
    kill -KILL "$(cat "$pidfile")" 2>/dev/null || true
  done
  if [ "$OWN_SERVER" = 1 ] && [ -n "$SERVER_PID" ]; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  elif [ -n "${MONSOON_PREFIX:-}" ] && command -v redis-cli >/dev/null; then
    # Only the keys this run wrote, under its own fresh prefix.
    redis-cli -u "$REDIS_URL" --no-auth-warning DEL "${MONSOON_PREFIX}chennai" \
      "${MONSOON_PREFIX}coimbatore" "${MONSOON_PREFIX}bengaluru" "${MONSOON_PREFIX}bengaluru:dead" \
      >/dev/null 2>&1 || true
  fi
  rm -rf "$WORK"
  # Keep the panes on screen for an audience until the presenter is done.
  if [ "$IN_TMUX" = 1 ] && [ "$(tmux display-message -p '#{session_attached}')" != 0 ]; then
    read -rp "demo over: Enter closes the tmux session " _ || true
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------------------------------------
# Setup: redis-server, the release binaries, the server to use.

# shellcheck source=scripts/lib/deps.sh
source scripts/lib/deps.sh
need_redis_server
# Build as from a shell, also when a test started this script: else the demo's build and the next
# one from a shell would each rebuild the dependencies (see forget_crate_env).
forget_crate_env

say "Build the release binaries"
note "the first build compiles every dependency: a few minutes on 2 cores (cargo shows its"
note "progress); later runs take a moment"
run cargo build --release --bins
export PATH="$ROOT/target/release:$PATH"

# ping PORT: whether a server answers PING on 127.0.0.1:PORT (bash's /dev/tcp: no client needed).
ping() {
  local reply=""
  { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null || return 1
  printf 'PING\r\n' >&3
  read -r -t 2 reply <&3 || true
  exec 3<&- 3>&-
  [ "${reply%$'\r'}" = "+PONG" ]
}

if [ -n "${REDIS_URL:-}" ]; then
  export MONSOON_PREFIX="demo-$$-"
  say "Using the server in REDIS_URL (${REDIS_URL##*@}), every key under the fresh prefix $MONSOON_PREFIX"
  note "nothing outside that prefix is written or deleted; this run's keys are deleted at the end"
else
  server_bin=${SERVER_BIN:-redis-server}
  for _ in $(seq 1 20); do
    port=$((20000 + RANDOM % 30000))
    ping "$port" && continue
    "$server_bin" --port "$port" --bind 127.0.0.1 --dir "$WORK" --save "" --appendonly no \
      --logfile "$WORK/server.log" >/dev/null 2>&1 &
    SERVER_PID=$!
    deadline=$((SECONDS + 10))
    until ping "$port" || ! kill -0 "$SERVER_PID" 2>/dev/null || [ "$SECONDS" -ge "$deadline" ]; do
      sleep 0.05
    done
    if ping "$port"; then OWN_SERVER=1; break; fi
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
    SERVER_PID=""
  done
  [ "$OWN_SERVER" = 1 ] || fail "could not start $server_bin on a free port (log: $WORK/server.log)"
  export REDIS_URL="redis://127.0.0.1:$port" MONSOON_PREFIX=""
  say "Started a private $server_bin on 127.0.0.1:$port (data in $WORK, stopped at the end)"
fi
note "every command below reads REDIS_URL and MONSOON_PREFIX from the environment"
STARTED=$SECONDS

if [ "$IN_TMUX" = 1 ]; then
  # Name the panes, and keep a dead one (bob's) on screen.
  tmux select-pane -t "$TMUX_PANE" -T narrator
  tmux set-option -w -t "$TMUX_PANE" pane-border-status top >/dev/null
  tmux set-option -w -t "$TMUX_PANE" remain-on-exit on >/dev/null
fi

if [ "$FAST" = 1 ]; then DELAY=50ms FEW=20; else DELAY=100ms FEW=40; fi

# --web: the live page, started before step 1 so the audience sees the day's chart fill in. It
# runs as a plain background job (also with --tmux: the URL is said in the narration pane).
serving() { grep -q '^inspect serve: open ' "$WORK/web.log" 2>/dev/null || gone web; }
if [ "$WEB" = 1 ]; then
  for listen in "127.0.0.1:${MONSOON_WEB_PORT:-8080}" 127.0.0.1:0; do
    show "inspect serve chennai coimbatore --claim-idle 2s --listen $listen &"
    inspect serve chennai coimbatore --claim-idle 2s --listen "$listen" >"$WORK/web.log" 2>&1 &
    echo $! >"$WORK/web.pid"
    wait_for "inspect serve to listen" 30 serving
    alive web && break
    note "$(cat "$WORK/web.log")"
  done
  alive web || fail "inspect serve did not start: $(cat "$WORK/web.log")"
  URL=$(sed -n 's/^inspect serve: open \(http[^ ]*\).*/\1/p' "$WORK/web.log" | head -n 1)
  say "The live page for the audience: open $URL in a browser"
  note "length, newest reading and temperature chart per city; the group's lag and pending; per"
  note "consumer its rate, pending count and idle time (red once its messages can be claimed)"
  pause
fi

# ---------------------------------------------------------------------------------------------
say "1. Produce a day of readings for chennai: 86,400 entries, one per second, IDs <ms>-0"
note "the original's XADD loop; here pipelined batches (a rerun would write nothing)"
run producer --city chennai --date 2018-08-15
pause

say "2. Read the stream: the first entries (XRANGE), the last ones (XREVRANGE), noon by time"
run inspect range chennai --count 5
run inspect range chennai --rev --count 5
run inspect range chennai --from 2018-08-15T12:00:00Z --count 3
pause

say "3. Tail two cities (a blocking XREAD over chennai and coimbatore) while a live producer writes"
note "tail starts at \$ (only new entries); the live producer adds readings at the current time"
spawn producer producer --city chennai --city coimbatore --live --interval 200ms
show "inspect tail chennai coimbatore --count 6"
# A guard for a broken live producer, so that the demo fails instead of waiting for ever.
guard=()
command -v timeout >/dev/null && guard=(timeout 60)
"${guard[@]}" inspect tail chennai coimbatore --count 6
stop producer TERM
# One report line per city, each on a line of its own.
tail -n 2 "$WORK/producer.log" | while IFS= read -r line; do note "producer: $line"; done
pause

say "4. The consumer group: alice joins mygroup and works alone"
note "the group is created at 0 (the whole stream) when missing, the original's XGROUP CREATE"
note "each message: wait --delay (the processing), print, XACK"
spawn alice consumer alice --city chennai --delay "$DELAY" --claim-idle 2s
if [ "$IN_TMUX" = 1 ]; then
  spawn watch inspect watch chennai
fi
wait_for "alice to process $FEW messages" 60 has_lines alice "$FEW"
show "tail -n 3 alice.log"
tail -n 3 "$WORK/alice.log"
run inspect groups chennai
pause

say "5. bob joins: alice and bob share the work, one message at a time each"
spawn bob consumer bob --city chennai --delay "$DELAY" --claim-idle 2s
wait_for "bob to process $FEW messages" 60 has_lines bob "$FEW"
if [ "$IN_TMUX" = 1 ]; then
  note "the watch pane shows both consumers' rates, pending counts and idle times"
  sleep 3
else
  show "inspect watch chennai --frames 3 | cat"
  inspect watch chennai --frames 3 | cat
fi
note "so far: alice $(lines_of alice) messages, bob $(lines_of bob)"
pause

bob_holds() { inspect pending chennai --json | grep -q '"name":"bob","pending":[1-9]'; }

say "6. bob leaves with Ctrl-C: he finishes and acknowledges the message in hand; alice goes on alone"
note "Ctrl-C in bob's terminal sends him SIGINT; here kill sends it"
show "kill -INT $(pid_of bob)    # bob: Ctrl-C"
stop bob INT
show "tail -n 1 bob.log"
tail -n 1 "$WORK/bob.log"
! bob_holds || fail "bob left holding a message after Ctrl-C"
alice_before=$(lines_of alice)
wait_for "alice to go on alone" 60 has_lines alice $((alice_before + FEW / 2))
run inspect groups chennai
note "bob stopped after $(lines_of bob) messages and holds none (PENDING 0); alice went on alone: $(($(lines_of alice) - alice_before)) more so far"
pause

say "7. bob comes back, then dies in the middle of a message: SIGKILL, as if his machine failed"
note "unlike Ctrl-C, SIGKILL leaves him no moment to finish: the message in hand stays pending on him"
spawn bob consumer bob --city chennai --delay "$DELAY" --claim-idle 2s
held=""
for attempt in 1 2 3; do
  wait_for "bob to hold a message" 30 bob_holds
  show "kill -KILL $(pid_of bob)    # bob"
  stop bob KILL
  held=$(inspect pending chennai --json | grep -o '"id":"[0-9-]*","consumer":"bob"' |
    head -n 1 | sed 's/^"id":"//; s/".*//') || true
  [ -n "$held" ] && break
  note "bob was killed between two messages, holding nothing; starting him again (attempt $attempt)"
  spawn bob consumer bob --city chennai --delay "$DELAY" --claim-idle 2s
done
[ -n "$held" ] || fail "bob never died holding a message"
run inspect pending chennai
note "bob held $held when he died: it stays pending, owned by bob, its idle time growing"
pause

say "8. alice claims it once it has been idle for 2s (consumer --claim-idle 2s: XAUTOCLAIM)"
wait_for "alice to claim $held" 60 grep -q "^alice ${MONSOON_PREFIX}chennai $held " "$WORK/alice.log"
show "grep $held alice.log"
grep "^alice ${MONSOON_PREFIX}chennai $held " "$WORK/alice.log"
run inspect pending chennai
note "alice stops gracefully (SIGTERM): she finishes and acknowledges the message in hand"
show "kill -TERM $(pid_of alice)    # alice"
stop alice TERM
tail -n 1 "$WORK/alice.log"
[ "$IN_TMUX" = 1 ] && stop watch INT
run inspect groups chennai
pause

say "9. Real work behind the consumer: each message handed to a program, acked only when it succeeds"
note "consumer --exec runs the example alert handler per message (an ALERT above 23.7 C, which"
note "two of bengaluru's first 20 readings pass); this one also rejects a marked reading, which is"
note "delivered again (the server counts the deliveries) and after the last one dead-lettered"
run producer --city bengaluru --date 2018-08-15 --count 20
MARKED=1534291205000-0
HANDLER="[ \"\$MONSOON_ID\" != $MARKED ] || { echo \"reading \$MONSOON_ID is marked bad\" >&2; exit 3; }; ALERT_ABOVE=23.7 $ROOT/scripts/examples/alert.sh"
show "consumer alice --city bengaluru --exec '$HANDLER' --max-deliveries 3 --idle-exit 1s"
consumer alice --city bengaluru --exec "$HANDLER" --max-deliveries 3 --idle-exit 1s 2>&1 | tail -n 10
run inspect range bengaluru:dead --json
pause

say "10. The memory a day takes in Redis, next to the original's 2.3 MB for 86,400 entries"
note "MEMORY USAGE of the stream (the live step added a few readings) and the server's used_memory"
run inspect memory chennai

if [ "$FAILOVER" = 1 ]; then
  # shellcheck source=scripts/lib/failover.sh
  source scripts/lib/failover.sh
  failover_step
fi

say "Done: the walkthrough took $((SECONDS - STARTED))s after the build"
# The page is what the audience looks at: it stays up until the presenter is done with it (it
# would go with this script). Unattended (no terminal), it goes at once.
if [ "$WEB" = 1 ] && [ -t 0 ]; then
  read -rp "    The live page stays up at $URL: press Enter to stop it " _
fi
