#!/usr/bin/env bash
# The tests: unit, integration, examples, benches (as a smoke run) and
# doctests of the whole workspace, then the tests that need real database
# servers, against throwaway PostgreSQL and Redis servers on loopback.
#
# A server is started when its binaries are here; with
# TOKENLIFE_INSTALL_SERVERS=1 (as .ci/run sets, running as root) a missing
# one is first installed from Debian's packages. Tests whose server could
# not be started are reported as not run, with the reason: they are
# `#[ignore]`d in a plain `cargo test`, and never counted as passed.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/servers.sh

log=$(mktemp "${TMPDIR:-/tmp}/tokenlife-test.XXXXXX")
cleanup() { servers_stop; rm -f "$log"; }
trap cleanup EXIT

pg_start || true
redis_start || true

# Everything that needs no server (server tests are ignored here).
cargo test --workspace --all-targets --all-features 2>&1 | tee "$log"
cargo test --workspace --doc --all-features 2>&1 | tee -a "$log"

# `test result: ok. 12 passed; 0 failed; 3 ignored; …` summed over a log.
# sum FILE FIELD: field 4 is the passed count, 8 the ignored one.
sum() { grep -Eo "test result: ok\. [0-9]+ passed; [0-9]+ failed; [0-9]+ ignored" "$1" | awk -v f="$2" '{ n += $f } END { print n + 0 }'; }

# The tests that need a server: `--ignored` runs only those, in each
# PACKAGE, or only those whose name has FILTER in PACKAGE:FILTER.
server_run() { # NAME PACKAGE[:FILTER]...
  local name=$1; shift
  local out; out=$(mktemp "${TMPDIR:-/tmp}/tokenlife-$name.XXXXXX")
  local spec
  for spec in "$@"; do
    local package=${spec%%:*} filter=""
    [ "$package" = "$spec" ] || filter=${spec#*:}
    cargo test -p "$package" --tests --all-features -- --ignored $filter 2>&1 | tee -a "$out"
  done
  echo "$name $(sum "$out" 4)" >>"$log.servers"
  rm -f "$out"
}
: >"$log.servers"
if [ -n "${TOKENLIFE_PG_URL:-}" ]; then
  server_run PostgreSQL tokenlife-postgres tokenlife-example-server:postgres
fi
if [ -n "${TOKENLIFE_REDIS_URL:-}" ]; then
  server_run Redis tokenlife-redis tokenlife-example-server:redis
fi

passed=$(sum "$log" 4)
ignored=$(sum "$log" 8)
echo
echo "== tokenlife tests =="
echo "without a server: $passed passed, 0 failed ($ignored not run here: they need a server, or write seed files)"
while read -r name n; do
  echo "against a real $name server: $n passed, 0 failed"
done <"$log.servers"
[ -n "${TOKENLIFE_PG_URL:-}" ] || echo "PostgreSQL tests NOT RUN: ${PG_WHY:-no server}; install PostgreSQL (apt-get install postgresql) or set TOKENLIFE_PG_URL and TOKENLIFE_PG_CTL"
[ -n "${TOKENLIFE_REDIS_URL:-}" ] || echo "Redis tests NOT RUN: ${REDIS_WHY:-no server}; install redis-server or set TOKENLIFE_REDIS_URL and TOKENLIFE_REDIS_SERVER"
rm -f "$log.servers"
