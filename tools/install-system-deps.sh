#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages connect needs, only those missing.
#   tools/install-system-deps.sh run    SpatiaLite (the embedded default database)
#   tools/install-system-deps.sh test   + PostgreSQL with PostGIS (throwaway test clusters),
#                                        Redis (shared rate-limit storage), Chromium, nginx,
#                                        openssl and systemd (the deploy/ files' checks),
#                                        Kannel with its fake SMS centre (the SMS tests)
#   tools/install-system-deps.sh loadtest   + wrk (make loadtest's HTTP load generator)
set -euo pipefail
want=(libsqlite3-mod-spatialite)
if [ "${1:-run}" = "test" ] || [ "${1:-run}" = "loadtest" ]; then
    # chromium: the browser tests drive Debian's build (downloaded browsers do not work).
    # redis-server: the test of rate limits shared by two app processes starts its own.
    want+=(postgresql chromium fonts-noto-core redis-server)
    # nginx-light, openssl, systemd: tests/integration/test_deploy.py and test_nginx_log.py
    # run `nginx -t` and nginx itself on the shipped site, and `systemd-analyze verify`.
    want+=(nginx-light openssl systemd)
    # kannel, kannel-extras: the SMS tests start their own bearerbox and smsbox on free ports
    # (tools/kannelbox.py), with fakesmsc from kannel-extras standing in for the phones.
    want+=(kannel kannel-extras)
fi
if [ "${1:-run}" = "loadtest" ]; then
    want+=(wrk)
fi

missing=()
for pkg in "${want[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
python3 -c 'import ensurepip, venv' 2>/dev/null || missing+=(python3-venv)
# Front-end assets (Leaflet) come from npm; any Node.js that brings npm will do.
command -v npm >/dev/null 2>&1 || missing+=(npm)

postgis_pkg() {
    # The PostGIS build for the installed (or about to be installed) PostgreSQL major.
    local major
    major=$(ls /usr/lib/postgresql 2>/dev/null | sort -n | tail -n 1)
    if [ -z "$major" ]; then
        major=$(apt-cache depends postgresql 2>/dev/null | sed -n 's/.*Depends: postgresql-\([0-9]\+\)$/\1/p' | head -n 1)
    fi
    echo "postgresql-${major:-15}-postgis-3"
}

updated=0
apt_install() {
    if [ "$(id -u)" != 0 ]; then
        echo "connect needs these system packages: $*" >&2
        echo "install them as root: apt-get install -y $*" >&2
        exit 1
    fi
    if [ "$updated" = 0 ]; then
        apt-get update -qq
        updated=1
    fi
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

if [ ${#missing[@]} -gt 0 ]; then
    apt_install "${missing[@]}"
fi
if [[ " ${missing[*]} " == *" kannel "* ]]; then
    # Debian starts its own Kannel (ports 13000-13013, a wapbox) when the package is installed;
    # nothing of connect uses it (tests start theirs), so it is stopped and kept from booting.
    if [ -d /run/systemd/system ]; then
        systemctl disable --now kannel >/dev/null 2>&1 || true
    else
        invoke-rc.d kannel stop >/dev/null 2>&1 || true
        update-rc.d kannel disable >/dev/null 2>&1 || true
    fi
fi
if [ "${1:-run}" != "run" ]; then
    if ! ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1; then
        [ "$updated" = 1 ] || { apt-get update -qq; updated=1; }
        apt_install "$(postgis_pkg)"
    fi
fi
