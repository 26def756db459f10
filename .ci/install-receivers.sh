#!/usr/bin/env bash
# Makes real rsyslog and syslog-ng daemons available to the end-to-end tests of the
# `mimecast-receivers` crate (host-test/receivers), which start them as throwaway child processes
# on 127.0.0.1 with configurations of their own.
#
# * rsyslog (+ rsyslog-gnutls, its GnuTLS netstream driver for RFC 5425) is installed with apt-get.
#   The system service is never left running: the tests start their own rsyslogd.
# * syslog-ng conflicts with rsyslog as a Debian package, so syslog-ng-core is only unpacked (not
#   installed) into target/receivers/syslog-ng; its runtime libraries are installed with apt-get.
#
# Idempotent; when everything is already in place it does no apt work at all.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
dest="$repo/target/receivers/syslog-ng"
export DEBIAN_FRONTEND=noninteractive

sudo=()
if [ "$(id -u)" != 0 ]; then sudo=(sudo); fi

# Runtime libraries of syslog-ng-core 3.38 (Debian bookworm; see `dpkg -I` of the .deb).
sng_libs=(libivykis0 libnet1 libpcre3 libwrap0 libjson-c5 libglib2.0-0 libcap2 libsystemd0 libssl3)
apt_pkgs=(rsyslog rsyslog-gnutls "${sng_libs[@]}")

missing=()
for p in "${apt_pkgs[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
        missing+=("$p")
    fi
done

apt_updated=0
apt_update_once() {
    if [ "$apt_updated" = 0 ]; then
        "${sudo[@]}" apt-get update -qq
        apt_updated=1
    fi
}

if [ "${#missing[@]}" -gt 0 ]; then
    # Keep the package's maintainer scripts from starting the system rsyslog service.
    policy=/usr/sbin/policy-rc.d
    added_policy=0
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' | "${sudo[@]}" tee "$policy" >/dev/null
        "${sudo[@]}" chmod +x "$policy"
        added_policy=1
    fi
    status=0
    if ! "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null; then
        apt_update_once
        "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || status=$?
    fi
    if [ "$added_policy" = 1 ]; then "${sudo[@]}" rm -f "$policy"; fi
    if [ "$status" != 0 ]; then exit "$status"; fi
fi

# Should a system rsyslogd run anyway (started by an init system), stop it: the tests' daemons
# use random loopback ports, but a system daemon has no business in a test run.
if [ -r /run/rsyslogd.pid ]; then
    pid=$(cat /run/rsyslogd.pid)
    if [ -n "$pid" ] && [ -e "/proc/$pid" ] && grep -q rsyslogd "/proc/$pid/comm" 2>/dev/null; then
        "${sudo[@]}" kill "$pid" || true
    fi
fi

# syslog-ng-core, unpacked. The stamp holds the package version that was unpacked.
stamp="$dest/.unpacked-version"
want=$(apt-cache policy syslog-ng-core | awk '/Candidate:/ {print $2}')
if [ -z "$want" ] || [ "$want" = "(none)" ]; then
    apt_update_once
    want=$(apt-cache policy syslog-ng-core | awk '/Candidate:/ {print $2}')
fi
if [ ! -x "$dest/usr/sbin/syslog-ng" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    # apt-get download writes into the current directory, as the _apt user when it can.
    chmod 777 "$tmp"
    if ! (cd "$tmp" && apt-get download -qq "syslog-ng-core=$want" >/dev/null 2>&1); then
        apt_update_once
        (cd "$tmp" && apt-get download -qq syslog-ng-core >/dev/null 2>&1)
    fi
    rm -rf "$dest"
    mkdir -p "$dest"
    dpkg-deb -x "$tmp"/syslog-ng-core_*.deb "$dest"
    printf '%s\n' "$want" >"$stamp"
fi

echo "receivers: rsyslogd $(dpkg-query -W -f='${Version}' rsyslog) at /usr/sbin/rsyslogd; syslog-ng $(cat "$stamp") unpacked at $dest (usr/sbin/syslog-ng)"
