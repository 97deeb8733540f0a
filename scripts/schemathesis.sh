#!/usr/bin/env bash
# A schema-driven test of the native API: schemathesis generates requests from
# /v1/openapi.json of a running `roster serve` (fresh SQLite data, an administrator's API
# key) and checks every answer: no 5xx, and each status, content type, header and body as the
# document says. Not checked: that every schema-valid request is accepted
# (positive_data_acceptance): the document gives types, not every rule of the core (email
# syntax, password length, a correct current password, a live reset link), so such requests
# are rightly answered 422.
#
#   scripts/schemathesis.sh [MAX_EXAMPLES]        (default 100 per operation)
#
# Needs Python 3 for schemathesis, installed into a virtualenv OUTSIDE the repository
# ($SCHEMATHESIS_VENV, default ../proof-venv next to the worktree) on first use. The binary is
# built with cargo (CARGO_TARGET_DIR is respected). Exits with schemathesis's status.
set -euo pipefail

max_examples=${1:-100}
root=$(cd "$(dirname "$0")/.." && pwd)
venv=${SCHEMATHESIS_VENV:-$root/../proof-venv}
if [ ! -x "$venv/bin/schemathesis" ]; then
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet schemathesis
fi

cd "$root"
cargo build --quiet --bin roster
bin=${CARGO_TARGET_DIR:-$root/target}/debug/roster

data=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
export ROSTER_DATA_DIR="$data" ROSTER_LISTEN="127.0.0.1:$port" RUST_LOG=${RUST_LOG:-warn}
"$bin" serve >"$data/serve.log" 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true; wait $server 2>/dev/null || true; rm -rf "$data"' EXIT
for _ in $(seq 1 200); do
    curl -fsS "$base/readyz" >/dev/null 2>&1 && break
    sleep 0.1
done

# The first account is the administrator; an API key for it (a key survives the
# logouts and session revocations that the generated requests make).
echo 'schemathesis-password-1' | "$bin" create-user admin@schemathesis.example Admin admin \
    --password-stdin >/dev/null
token=$(curl -fsS -H 'content-type: application/json' \
    -d '{"login":"admin@schemathesis.example","password":"schemathesis-password-1"}' \
    "$base/v1/auth/login" | python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
key=$(curl -fsS -H 'content-type: application/json' -H "authorization: Bearer $token" \
    -d '{"name":"schemathesis","scopes":["introspect"]}' \
    "$base/v1/me/api-keys" | python3 -c 'import json,sys; print(json.load(sys.stdin)["secret"])')

status=0
cd "$data" # schemathesis keeps its cache (.schemathesis/) in the working directory
"$venv/bin/schemathesis" run "$base/v1/openapi.json" \
    --header "Authorization: Bearer $key" \
    --checks all \
    --exclude-checks positive_data_acceptance \
    --max-examples "$max_examples" \
    --workers 1 \
    --seed "${SCHEMATHESIS_SEED:-1}" \
    --report junit --report-dir "${SCHEMATHESIS_REPORT_DIR:-$data/report}" || status=$?
if grep -q 'panicked' "$data/serve.log"; then
    echo "the server panicked:" >&2
    grep -A5 'panicked' "$data/serve.log" >&2
    status=1
fi
exit $status
