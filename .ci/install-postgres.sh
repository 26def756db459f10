#!/usr/bin/env bash
# Makes a real PostgreSQL server available to the tests of the `mimecast-receivers` crate
# (host-test/receivers, module `postgres`), which initdb and start their own throwaway servers
# on 127.0.0.1 in temporary directories, as an unprivileged user.
#
# * PostgreSQL (Debian 12: 15) is installed with apt-get (`apt-get update` only if the install
#   fails at first).
# * Debian's package creates a system cluster (15/main, port 5432) and may start it. It is never
#   left running: any online cluster is stopped (fast) and an `auto` start.conf set to `manual`.
# * PostgreSQL refuses to run as root; the tests run initdb and postgres as the `postgres`
#   system user the package creates (they use the current user when not root).
#
# Idempotent; when everything is already in place it does no apt work at all.
set -euo pipefail
export DEBIAN_FRONTEND=noninteractive

sudo=()
if [ "$(id -u)" != 0 ]; then sudo=(sudo); fi

installed() {
    dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}

if ! installed postgresql || ! compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null; then
    # Keep the package's maintainer scripts from starting the system cluster.
    policy=/usr/sbin/policy-rc.d
    added_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
        "${sudo[@]}" chmod +x "$policy"
        added_policy=1
    fi
    status=0
    if ! "${sudo[@]}" apt-get install -y -qq postgresql >/dev/null; then
        "${sudo[@]}" apt-get update -qq
        "${sudo[@]}" apt-get install -y -qq postgresql >/dev/null || status=$?
    fi
    if [ "$added_policy" = 1 ]; then "${sudo[@]}" rm -f "$policy"; fi
    if [ "$status" != 0 ]; then exit "$status"; fi
fi

# No system cluster may be left running (or start with the machine): the tests start their own
# servers on random loopback ports, and a system server has no business in a test run.
if command -v pg_lsclusters >/dev/null; then
    while read -r ver name _port status _rest; do
        case "$status" in
        online*) "${sudo[@]}" pg_ctlcluster "$ver" "$name" stop -m fast ;;
        esac
        # `auto` -> `manual` (`disabled` stays): pg_ctlcluster still works by hand.
        conf="/etc/postgresql/$ver/$name/start.conf"
        if [ -f "$conf" ] && grep -qx 'auto[[:space:]]*' "$conf"; then
            "${sudo[@]}" sed -i 's/^auto[[:space:]]*$/manual/' "$conf"
        fi
    done < <(pg_lsclusters -h 2>/dev/null || true)
fi

bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
if ! id -u postgres >/dev/null 2>&1; then
    echo "install-postgres: the postgres system user is missing (the package should create it)" >&2
    exit 1
fi
echo "postgres: $("$bin/postgres" --version) at $bin (initdb, pg_ctl, postgres, pg_isready, psql); run as user postgres when root"
