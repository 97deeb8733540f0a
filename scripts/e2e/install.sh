#!/usr/bin/env bash
# Installs what the end-to-end tests against the real products need, into a cache
# directory outside the repository. Idempotent: a second run only checks.
#
#   ROSTER_E2E_CACHE (default ~/.cache/roster-e2e)
#     uv/                   uv itself when it was not on PATH
#     open-webui/           virtualenv with open-webui==0.12.4
#     langflow/             virtualenv with langflow-base==1.13.0
#     driver/               virtualenv with the test drivers' libraries (playwright, httpx)
#     scim/                 virtualenv with scim2-tester (the SCIM server's RFC compliance check)
#   plus Debian's chromium and chromium-driver (apt) when /usr/bin/chromium is missing,
#   Debian's nginx (apt) when /usr/sbin/nginx is missing (the forward-auth test),
#   Debian's prometheus package (apt) when promtool is missing (the metrics test runs
#   `promtool check metrics` on Roster's /metrics),
#   Debian's systemd package (apt) when systemd-analyze is missing (the packaging test runs
#   `systemd-analyze verify` on packaging/systemd/roster.service),
#   and axe-core (npm ci in tests/clients/axe, its node_modules ignored by git).
#
# Usage: scripts/e2e/install.sh [openwebui|langflow|driver|browser|proxy|promtool|systemd|axe|scim ...]  (default: all)
set -euo pipefail

CACHE="${ROSTER_E2E_CACHE:-$HOME/.cache/roster-e2e}"
OPEN_WEBUI_VERSION=0.12.4
LANGFLOW_VERSION=1.13.0
PLAYWRIGHT_VERSION=1.55.0
SCIM2_TESTER_VERSION=0.5.2
PYTHON="${ROSTER_E2E_PYTHON:-python3}"
mkdir -p "$CACHE"

log() { printf '[e2e-install] %s\n' "$*" >&2; }

uv_bin() {
    if command -v uv >/dev/null 2>&1; then
        command -v uv
    elif [ -x "$CACHE/uv/bin/uv" ]; then
        echo "$CACHE/uv/bin/uv"
    else
        # pip --target needs no venv module; uv then makes the virtualenvs itself.
        if ! "$PYTHON" -m pip --version >/dev/null 2>&1; then
            log "no pip for $PYTHON: installing Debian's python3-pip"
            apt_install python3-pip
        fi
        log "installing uv from PyPI into $CACHE/uv"
        PIP_BREAK_SYSTEM_PACKAGES=1 PIP_ROOT_USER_ACTION=ignore \
            "$PYTHON" -m pip install --quiet --disable-pip-version-check --target "$CACHE/uv" uv >&2
        echo "$CACHE/uv/bin/uv"
    fi
}

# venv NAME CHECK-MODULE PACKAGE...: a virtualenv in $CACHE/NAME holding the packages;
# skipped when the marker of a finished install for exactly these packages exists.
venv() {
    local name="$1"; shift
    local dir="$CACHE/$name" marker="$CACHE/$name/.installed"
    local want="$*"
    if [ -f "$marker" ] && [ "$(cat "$marker")" = "$want" ]; then
        log "$name: already installed ($want)"
        return 0
    fi
    local uv; uv="$(uv_bin)"
    log "$name: installing $want into $dir"
    rm -f "$marker"
    [ -x "$dir/bin/python" ] || "$uv" venv --quiet --python "$(command -v "$PYTHON")" "$dir"
    VIRTUAL_ENV="$dir" "$uv" pip install --quiet --python "$dir/bin/python" "$@"
    echo "$want" >"$marker"
    log "$name: done"
}

apt_install() {
    local SUDO=""
    if [ "$(id -u)" != 0 ]; then
        command -v sudo >/dev/null 2>&1 || { log "not root and no sudo: install Debian's $*"; return 1; }
        SUDO=sudo
    fi
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

browser() {
    if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
        log "browser: /usr/bin/chromium present"
        return 0
    fi
    log "browser: installing Debian's chromium and chromium-driver"
    apt_install chromium chromium-driver
}

proxy() {
    if [ -x /usr/sbin/nginx ]; then
        log "proxy: /usr/sbin/nginx present"
        return 0
    fi
    log "proxy: installing Debian's nginx"
    apt_install nginx
}

axe() {
    local dir
    dir="$(cd "$(dirname "$0")/../.." && pwd)/tests/clients/axe"
    if [ -f "$dir/node_modules/axe-core/axe.min.js" ]; then
        log "axe: already installed"
        return 0
    fi
    command -v npm >/dev/null 2>&1 || { log "axe: npm is missing (install Node.js 18 or later)"; return 1; }
    log "axe: npm ci in $dir"
    (cd "$dir" && npm ci --no-audit --no-fund >&2)
}

prometheus_tools() {
    if command -v promtool >/dev/null 2>&1; then
        log "promtool: $(command -v promtool) present"
        return 0
    fi
    log "promtool: installing Debian's prometheus package"
    apt_install prometheus
}

systemd_tools() {
    if command -v systemd-analyze >/dev/null 2>&1; then
        log "systemd-analyze: $(command -v systemd-analyze) present"
        return 0
    fi
    log "systemd-analyze: installing Debian's systemd package"
    apt_install systemd
}

what=("$@")
[ ${#what[@]} -gt 0 ] || what=(browser proxy promtool systemd driver axe scim langflow openwebui)
for w in "${what[@]}"; do
    case "$w" in
        openwebui) venv open-webui "open-webui==$OPEN_WEBUI_VERSION" ;;
        langflow) venv langflow "langflow-base==$LANGFLOW_VERSION" ;;
        # The drivers never download a browser: Playwright drives /usr/bin/chromium.
        driver) PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 venv driver "playwright==$PLAYWRIGHT_VERSION" "httpx>=0.27" "pyjwt[crypto]>=2.8" ;;
        browser) browser ;;
        proxy) proxy ;;
        promtool) prometheus_tools ;;
        systemd) systemd_tools ;;
        axe) axe ;;
        # The `httpx2` extra brings the HTTP client the checker drives the server with.
        scim) venv scim "scim2-tester[httpx2]==$SCIM2_TESTER_VERSION" ;;
        *) log "unknown part: $w (openwebui, langflow, driver, browser, proxy, promtool, systemd, axe, scim)"; exit 2 ;;
    esac
done
log "ready in $CACHE"
