# Throwaway database servers for the tests, on free loopback ports; sourced
# by scripts/test.sh. Each *_start exports the variables the tests read, or
# returns 1 with the reason in PG_WHY / REDIS_WHY. servers_stop ends them
# and removes their files.

SERVERS_DIRS=()

# Installs Debian package $1 when allowed (TOKENLIFE_INSTALL_SERVERS=1, as root).
servers_install() {
  [ "${TOKENLIFE_INSTALL_SERVERS:-}" = 1 ] && [ "$(id -u)" = 0 ] || return 1
  echo "installing $1 from Debian's packages"
  local log; log=$(mktemp "${TMPDIR:-/tmp}/tokenlife-install.XXXXXX")
  { DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$1"; } \
    >"$log" 2>&1 || { cat "$log" >&2; rm -f "$log"; return 1; }
  rm -f "$log"
}

# A free loopback port in [$1, $1 + 100).
servers_port() {
  local port
  for port in $(seq "$1" $(($1 + 99))); do
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return 0; fi
  done
  return 1
}

# ---- PostgreSQL: TOKENLIFE_PG_URL, and TOKENLIFE_PG_CTL (a pg_ctl for it,
# with which the outage tests stop and restart it). Run as the `postgres`
# user when this runs as root.
pg_bindir() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1; }
pg_start() {
  if [ -n "${TOKENLIFE_PG_URL:-}" ]; then return 0; fi
  if [ -z "$(pg_bindir)" ] && ! servers_install postgresql; then
    PG_WHY="PostgreSQL is not installed"; return 1
  fi
  local bin; bin=$(pg_bindir)
  [ -x "$bin/pg_ctl" ] || { PG_WHY="PostgreSQL's pg_ctl not found"; return 1; }
  local dir; dir=$(mktemp -d "${TMPDIR:-/tmp}/tokenlife-pg.XXXXXX")
  SERVERS_DIRS+=("$dir")
  local as=""
  if [ "$(id -u)" = 0 ]; then
    chown postgres:postgres "$dir"
    as="runuser -u postgres --"
  fi
  local port; port=$(servers_port 54320) || { PG_WHY="no free loopback port"; return 1; }
  (cd / && $as "$bin/initdb" -D "$dir/data" -U postgres -A trust -E UTF8 --no-locale) \
    >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; PG_WHY="initdb failed"; return 1; }
  {
    echo "listen_addresses = '127.0.0.1'"
    echo "port = $port"
    echo "unix_socket_directories = '$dir'"
    echo "max_connections = 200"
    echo "fsync = off  # a throwaway server: a power cut is not under test"
  } >>"$dir/data/postgresql.conf"
  {
    echo "#!/bin/sh"
    echo "cd / && exec $as '$bin/pg_ctl' -D '$dir/data' -l '$dir/server.log' \"\$@\""
  } >"$dir/pg_ctl"
  chmod 755 "$dir/pg_ctl"
  "$dir/pg_ctl" start -w -t 60 >/dev/null || { cat "$dir/server.log" >&2; PG_WHY="the server did not start"; return 1; }
  "$bin/createdb" -h 127.0.0.1 -p "$port" -U postgres tokenlife_test
  export TOKENLIFE_PG_URL="postgres://postgres@127.0.0.1:$port/tokenlife_test"
  export TOKENLIFE_PG_CTL="$dir/pg_ctl"
  echo "PostgreSQL $("$bin/postgres" -V | awk '{print $3}') on 127.0.0.1:$port (TOKENLIFE_PG_URL)"
}

# ---- Redis: TOKENLIFE_REDIS_URL, and TOKENLIFE_REDIS_SERVER (the binary,
# with which the restart tests start servers of their own).
redis_start() {
  if [ -n "${TOKENLIFE_REDIS_URL:-}" ]; then return 0; fi
  if ! command -v redis-server >/dev/null && ! servers_install redis-server; then
    REDIS_WHY="redis-server is not installed"; return 1
  fi
  local bin; bin=$(command -v redis-server) || { REDIS_WHY="redis-server not found"; return 1; }
  local dir; dir=$(mktemp -d "${TMPDIR:-/tmp}/tokenlife-redis.XXXXXX")
  SERVERS_DIRS+=("$dir")
  local port; port=$(servers_port 63790) || { REDIS_WHY="no free loopback port"; return 1; }
  "$bin" --bind 127.0.0.1 --port "$port" --dir "$dir" --save '' --appendonly no \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" >/dev/null
  local i
  for i in $(seq 1 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null || { cat "$dir/redis.log" >&2; REDIS_WHY="the server did not start"; return 1; }
  export TOKENLIFE_REDIS_URL="redis://127.0.0.1:$port/"
  export TOKENLIFE_REDIS_SERVER="$bin"
  echo "Redis $("$bin" --version | awk '{print $3}') on 127.0.0.1:$port (TOKENLIFE_REDIS_URL)"
}

servers_stop() {
  local dir
  for dir in "${SERVERS_DIRS[@]}"; do
    if [ -x "$dir/pg_ctl" ]; then "$dir/pg_ctl" stop -m immediate -w >/dev/null 2>&1 || true; fi
    if [ -f "$dir/redis.pid" ]; then kill "$(cat "$dir/redis.pid")" 2>/dev/null || true; fi
    rm -rf "$dir"
  done
}
