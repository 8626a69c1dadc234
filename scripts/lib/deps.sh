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
