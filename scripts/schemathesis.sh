#!/usr/bin/env bash
# OpenAPI conformance run (issue 5): schemathesis from PyPI against /openapi.json of a real
# `gridproof serve` on a temporary SQLite store, once with an admin token and once with an operator
# token (each role reaches different routes). Fails (non-zero) when schemathesis finds a server
# error (5xx) or cannot run.
#
#   scripts/schemathesis.sh [MAX_EXAMPLES]        (default 50 per operation)
#
# GRIDPROOF_BIN: the binary to serve (default: builds target/debug/gridproof with cargo).
# SCHEMATHESIS_VERSION: the PyPI version to install (default 4.32.5, the one this was written for).
set -euo pipefail

cd "$(dirname "$0")/.."
max_examples="${1:-50}"
version="${SCHEMATHESIS_VERSION:-4.32.5}"
venv="$PWD/target/schemathesis-venv"

if [ ! -x "$venv/bin/schemathesis" ] || ! "$venv/bin/schemathesis" --version | grep -q "$version"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet "schemathesis==$version"
fi

if [ -z "${GRIDPROOF_BIN:-}" ]; then
  nice -n 19 cargo build --quiet -p gridproof-api --bin gridproof
  GRIDPROOF_BIN="$PWD/target/debug/gridproof"
fi

work="$(mktemp -d)"
server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

export DATABASE_URL="$work/gridproof.db"
GRIDPROOF_LOCATION_KEY="$(python3 -c 'import secrets; print(secrets.token_hex(32))')"
export GRIDPROOF_LOCATION_KEY
admin="$("$GRIDPROOF_BIN" token create --role admin --label schemathesis)"
operator="$("$GRIDPROOF_BIN" token create --role operator --operator schemathesis --label schemathesis)"

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
RUST_LOG=info "$GRIDPROOF_BIN" serve --listen "127.0.0.1:$port" 2>"$work/server.log" &
server_pid=$!
for _ in $(seq 1 100); do
  curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null

status=0
for token in "$admin" "$operator"; do
  # From the temporary folder: schemathesis keeps a .schemathesis folder in its working directory.
  (cd "$work" && "$venv/bin/schemathesis" run "http://127.0.0.1:$port/openapi.json" \
    -H "Authorization: Bearer $token" \
    --checks not_a_server_error \
    --max-examples "$max_examples" \
    --seed 5 \
    --generation-database none \
    --workers 1) || status=$?
done

if grep -qE "status=5[0-9]{2}" "$work/server.log"; then
  echo "the server logged a 5xx:" >&2
  grep -E "status=5[0-9]{2}" "$work/server.log" | head -20 >&2
  status=1
fi
exit "$status"
