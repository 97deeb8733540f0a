#!/usr/bin/env bash
# Counts the instructions the server executes per request under valgrind's callgrind: GET
# /healthz, GET /v1/me (access token), GET /oidc/userinfo (a JWT access token from the code
# flow), and the dialects' current user (Open WebUI GET /api/v1/auths/, Langflow whoami,
# LibreChat GET /api/user, Plexichat GET /users/@me) and
# user lists (Open WebUI page 2 and a deep page of 30, Langflow skip=50&limit=50) over
# $users users (default 3,000, imported without passwords), with the native list's first pages
# of 30 and 50 and a search for a few users, natively and through Open WebUI.
# Instruction counts do not depend on the machine's load, so they compare two routes (or two
# builds) where timings on a shared machine cannot.
#
#   bench/callgrind.sh [path/to/roster] [requests] [users]
#
# CALLGRIND_KEEP=DIR keeps each route's callgrind dump in DIR (see callgrind_annotate);
# CALLGRIND_LISTS=0 measures the single routes only, not the lists and searches.
# Needs valgrind and curl; builds nothing (default binary: target/release/roster). Uses a
# fresh SQLite database in a temporary directory; prints instructions per request.
set -euo pipefail

bin=${1:-target/release/roster}
n=${2:-2000}
users=${3:-3000}
dir=$(mktemp -d)
port=$((20000 + RANDOM % 20000))
base="http://127.0.0.1:$port"
db="sqlite://$dir/roster.db"
cleanup() {
  if [[ -n "${pid:-}" ]]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$dir"
}
trap cleanup EXIT

password='callgrind-password-1'
# Under valgrind a password hash takes many seconds: no request timeout.
export ROSTER_PUBLIC_URL="$base" ROSTER_LOG=error ROSTER_RATE_LIMIT_LOGIN_MAX=0 ROSTER_REQUEST_TIMEOUT_SECONDS=3600
echo "$password" | "$bin" create-user cg@bench.example cg cg --role admin \
  --password-stdin --database "$db" --data-dir "$dir" >/dev/null

python3 -c "
import json, sys
for i in range(int(sys.argv[1])):
    print(json.dumps({'email': f'user{i}@bench.example', 'username': f'user{i}', 'name': f'User {i:05d}'}))
" "$users" >"$dir/users.jsonl"
"$bin" import-users "$dir/users.jsonl" --database "$db" --data-dir "$dir" >/dev/null 2>&1

valgrind --tool=callgrind --callgrind-out-file="$dir/cg.%p" "$bin" serve --listen "127.0.0.1:$port" \
  --database "$db" --data-dir "$dir" 2>"$dir/valgrind.log" &
pid=$!
for _ in $(seq 1 600); do
  curl -sf "$base/readyz" >/dev/null 2>&1 && break
  sleep 0.5
done

json() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }
token=$(curl -sf "$base/v1/auth/login" -H 'content-type: application/json' \
  -d "{\"login\":\"cg\",\"password\":\"$password\"}" | json "['access_token']")
redirect='http://127.0.0.1:9/callback'
curl -sf "$base/v1/clients" -H "authorization: Bearer $token" -H 'content-type: application/json' \
  -d "{\"client_id\":\"cg\",\"public\":true,\"first_party\":true,\"redirect_uris\":[\"$redirect\"]}" >/dev/null
csrf='Y2FsbGdyaW5kLWNzcmYtdG9rZW4tMDEyMzQ1Njc4OTA'
session=$(curl -s -o /dev/null -D - "$base/signin" -H "cookie: roster_csrf=$csrf" \
  --data-urlencode "csrf=$csrf" --data-urlencode identifier=cg --data-urlencode "password=$password" |
  sed -n 's/^[Ss]et-[Cc]ookie: roster_session=\([^;]*\).*/\1/p')
verifier='callgrind-pkce-verifier-0123456789-abcdefghijklmn'
challenge=$(printf '%s' "$verifier" | openssl dgst -sha256 -binary | base64 | tr '+/' '-_' | tr -d '=')
location=$(curl -s -o /dev/null -D - -H "cookie: roster_session=$session" \
  "$base/oidc/authorize?response_type=code&client_id=cg&redirect_uri=$(python3 -c "import urllib.parse;print(urllib.parse.quote('$redirect',safe=''))")&scope=openid%20profile%20email&code_challenge=$challenge&code_challenge_method=S256" |
  sed -n 's/^[Ll]ocation: //p' | tr -d '\r')
code=$(python3 -c "import urllib.parse,sys;print(urllib.parse.parse_qs(urllib.parse.urlparse(sys.argv[1]).query)['code'][0])" "$location")
access=$(curl -sf "$base/oidc/token" --data-urlencode grant_type=authorization_code --data-urlencode "code=$code" \
  --data-urlencode "redirect_uri=$redirect" --data-urlencode client_id=cg --data-urlencode "code_verifier=$verifier" |
  json "['access_token']")

# Sends $n requests (or $3) of $1 (with token $2, if given) on one kept-alive connection; prints
# instructions per request (the server's total between a zeroing and a dump, all threads).
measure() {
  local path=$1 bearer=${2:-} n=${3:-$n} urls=() auth=()
  if [[ -n "$bearer" ]]; then auth=(-H "authorization: Bearer $bearer"); fi
  for _ in $(seq 1 $((n < 50 ? n : 50))); do urls+=("$base$path"); done
  curl -sf "${auth[@]}" "${urls[@]}" >/dev/null # warm-up
  urls=()
  for _ in $(seq 1 "$n"); do urls+=("$base$path"); done
  callgrind_control -z "$pid" >/dev/null
  curl -sf "${auth[@]}" "${urls[@]}" >/dev/null
  callgrind_control --dump="$path" "$pid" >/dev/null
  sleep 1
  local file total
  file=$(ls -t "$dir"/cg."$pid".* | head -1)
  total=$(sed -n 's/^summary: *//p' "$file" | awk '{print $1}')
  echo "$path: $((total / n)) instructions per request ($n requests)"
  # CALLGRIND_KEEP=DIR keeps each route's dump there, for callgrind_annotate.
  if [[ -n "${CALLGRIND_KEEP:-}" ]]; then
    mkdir -p "$CALLGRIND_KEEP"
    cp "$file" "$CALLGRIND_KEEP/$(printf '%s' "$path" | tr -c 'A-Za-z0-9' '_').out"
  fi
}
deep=$(((users + 1) / 30 / 2))
# The lists cost more: a tenth as many requests.
lists=$(((n + 9) / 10))
measure /healthz
measure /v1/me "$token"
measure /oidc/userinfo "$access"
measure /openwebui/api/v1/auths/ "$token"
measure /langflow/api/v1/users/whoami "$token"
measure /librechat/api/user "$token"
measure /plexichat/users/@me "$token"
# CALLGRIND_LISTS=0 stops here: the current-user routes only (the lists take most of the run).
if [[ "${CALLGRIND_LISTS:-1}" == 0 ]]; then exit 0; fi
measure "/openwebui/api/v1/users/?page=2" "$token" "$lists"
measure "/openwebui/api/v1/users/?page=$deep" "$token" "$lists"
measure "/langflow/api/v1/users/?skip=50&limit=50" "$token" "$lists"
# The native equivalents of the lists (first pages of 30 and 50) and a search matching a few
# users, natively and through Open WebUI.
measure "/v1/users?limit=30" "$token" "$lists"
measure "/v1/users?limit=50" "$token" "$lists"
measure "/v1/users?q=user299&limit=30" "$token" "$lists"
measure "/openwebui/api/v1/users/search?query=user299" "$token" "$lists"
