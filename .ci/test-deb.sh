#!/usr/bin/env bash
# Builds the Debian package (packaging/build-deb.sh) and checks it on this machine, as root: its
# contents and maintainer scripts, then installed: the binary, the demo, the example config that
# must not collect yet, the man page, the completions, the unit (verify, security), and the
# installed binary collecting from the mock inside an imitation of the unit's sandbox (below);
# then `dpkg -r` leaves only the conffile and `dpkg -P` nothing. No service is started, and
# systemd need not be PID 1. Installs what it needs itself (systemd, man-db, python3-seccomp
# from apt; cargo-deb from crates.io); the release build is most of its time.
set -euo pipefail
cd "$(dirname "$0")/.."
started=$SECONDS

fail() {
    echo "test-deb: FAIL: $*" >&2
    exit 1
}
say() { echo "test-deb: $*" >&2; }

if [ "$(id -u)" -ne 0 ]; then
    fail "run as root (dpkg -i)"
fi
if dpkg-query -W -f '${db:Status-Status}' mcsource 2>/dev/null | grep -qv '^not-installed$'; then
    fail "mcsource is installed on this machine already; remove it first (dpkg -P mcsource)"
fi

missing=()
command -v systemd-analyze >/dev/null || missing+=(systemd)
command -v man >/dev/null || missing+=(man-db)
/usr/bin/python3 -c 'import seccomp' 2>/dev/null || missing+=(python3-seccomp)
if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

deb=$(bash packaging/build-deb.sh | tail -n 1)
[ -f "$deb" ] || fail "packaging/build-deb.sh printed no .deb path (got: $deb)"
say "built $deb ($(du -h "$deb" | cut -f1)) after $((SECONDS - started))s"

# Contents: every file that must be there (more may be: docs and examples grow).
contents=$(dpkg-deb -c "$deb" | awk '{print $NF}' | sed 's|^\./|/|')
for path in \
    /usr/bin/mcsource \
    /etc/mcsource/mcsource.toml \
    /usr/lib/systemd/system/mcsource.service \
    /usr/share/man/man1/mcsource.1.gz \
    /usr/share/bash-completion/completions/mcsource \
    /usr/share/zsh/vendor-completions/_mcsource \
    /usr/share/fish/vendor_completions.d/mcsource.fish \
    /usr/share/doc/mcsource/copyright \
    /usr/share/doc/mcsource/README.md \
    /usr/share/doc/mcsource/docs/packaging.md \
    /usr/share/doc/mcsource/examples/mimecast.toml \
    /usr/share/doc/mcsource/examples/sinks/syslog-tls.toml \
    /usr/share/doc/mcsource/examples/kubernetes/mcsource.yaml \
    /usr/share/doc/mcsource/mimecast_source.wasm \
    /usr/share/doc/mcsource/wit/source.wit; do
    grep -qx "$path" <<<"$contents" || fail "$deb lacks $path"
done
if grep -E '/node_modules/|/\.gitignore$' <<<"$contents"; then
    fail "$deb holds files git does not track (above)"
fi
[ "$(dpkg-deb -f "$deb" Package)" = mcsource ] || fail "package name is not mcsource"
dpkg-deb -I "$deb" conffiles | grep -qx /etc/mcsource/mcsource.toml ||
    fail "/etc/mcsource/mcsource.toml is not a conffile"
# The maintainer scripts register the unit but neither enable nor start it on install, and stop
# it on removal.
scripts=$(mktemp -d)
trap 'rm -rf "$scripts"' EXIT
dpkg-deb -e "$deb" "$scripts"
for script in postinst prerm postrm; do
    [ -f "$scripts/$script" ] || fail "$deb has no $script"
done
grep -q 'deb-systemd-helper update-state mcsource.service' "$scripts/postinst" ||
    fail "postinst does not register mcsource.service: $(cat "$scripts/postinst")"
if grep -Eq 'deb-systemd-invoke start|_dh_action=start|systemctl (--system )?(enable|start)' \
    "$scripts/postinst"; then
    fail "postinst starts or enables mcsource.service: $(cat "$scripts/postinst")"
fi
grep -q 'deb-systemd-invoke stop mcsource.service' "$scripts/prerm" ||
    fail "prerm does not stop mcsource.service: $(cat "$scripts/prerm")"

# Installed. From here on, a failure removes the package again.
trap 'rm -rf "$scripts"; dpkg -P mcsource >/dev/null 2>&1 || true' EXIT
dpkg -i "$deb" >/dev/null
files=$(dpkg -L mcsource)

version=$(/usr/bin/mcsource --version)
grep -Eq '^mcsource [0-9.]+ \(component mimecast-source [0-9.]+, WIT mimecast:source@[0-9.]+\)$' \
    <<<"$version" || fail "unexpected --version: $version"
say "$version"

# The demo: the bundled mock, collected to stdout until caught up; compiled code cached in a
# throwaway directory.
cache=$(mktemp -d)
trap 'rm -rf "$scripts" "$cache"; dpkg -P mcsource >/dev/null 2>&1 || true' EXIT
events=$(MCSOURCE_CACHE_DIR="$cache" timeout 120 /usr/bin/mcsource demo 2>/dev/null | wc -l)
[ "$events" -gt 0 ] || fail "mcsource demo delivered no events"
say "demo: $events events"

# The installed config collects nothing until edited, and says so.
if out=$(MCSOURCE_CACHE_DIR="$cache" /usr/bin/mcsource check --config /etc/mcsource/mcsource.toml 2>&1); then
    fail "check accepted the unedited /etc/mcsource/mcsource.toml: $out"
fi
grep -q '/etc/mcsource/mcsource.toml is not configured yet: .*delete the line `not_configured_yet = true`' \
    <<<"$out" || fail "check on the unedited config said: $out"

# The man page renders; the completions load.
MANPAGER=cat MANWIDTH=80 man -l /usr/share/man/man1/mcsource.1.gz 2>/dev/null | grep -q 'mcsource' ||
    fail "the man page does not render"
bash -c 'source /usr/share/bash-completion/completions/mcsource && complete -p mcsource' >/dev/null ||
    fail "the bash completions do not load"

# The unit: valid, hardened, and neither enabled nor running.
unit=/usr/lib/systemd/system/mcsource.service
verify=$(systemd-analyze verify "$unit" 2>&1) || fail "systemd-analyze verify: $verify"
[ -z "$verify" ] || fail "systemd-analyze verify warns: $verify"
exposure=$(systemd-analyze security --offline=yes "$unit" 2>&1 | sed -n 's/.*Overall exposure level for mcsource.service: \([0-9.]*\).*/\1/p')
[ -n "$exposure" ] || fail "systemd-analyze security gave no exposure level"
awk -v e="$exposure" 'BEGIN { exit !(e <= 2.0) }' || fail "exposure $exposure is above 2.0"
say "systemd-analyze security: exposure $exposure"
for wants in /etc/systemd/system/*.wants/mcsource.service; do
    [ ! -e "$wants" ] || fail "the package enabled the unit: $wants"
done

# The installed binary in an imitation of the unit's sandbox, since systemd-run needs systemd
# as PID 1: a non-root user (DynamicUser=), the unit's own system-call filter, address families
# and namespace limits (packaging/seccomp-run.py), and, where this machine allows a mount
# namespace, a read-only file system but for its work directory (ProtectSystem=strict with
# StateDirectory=), private /tmp and /var/tmp (PrivateTmp=) and /proc as ProtectProc=invisible
# and ProcSubset=pid make it. It runs the demo, then collects from `mcsource mock` into a file
# sink with a { credential = … } from CREDENTIALS_DIRECTORY, reloads on SIGHUP and drains on
# SIGTERM with exit code 0.
# Outside /tmp and /var/tmp, which the sandbox replaces (the checkout may well be under /tmp),
# with the filter script copied in.
sandbox=/var/lib/mcsource-deb-test
rm -rf "$sandbox" && mkdir -p "$sandbox/credentials"
cp packaging/seccomp-run.py "$sandbox/seccomp-run.py"
cleanup_sandbox() {
    [ -z "${run:-}" ] || kill "$run" 2>/dev/null || true
    [ -z "${mock:-}" ] || kill "$mock" 2>/dev/null || true
    rm -rf "$sandbox"
}
trap 'cleanup_sandbox; rm -rf "$scripts" "$cache"; dpkg -P mcsource >/dev/null 2>&1 || true' EXIT
namespaces=yes
unshare -m --propagation private sh -c \
    'mount -t proc -o hidepid=invisible,subset=pid proc /proc && mount -o remount,bind,ro /' \
    2>/dev/null || namespaces=no
# The command line that runs "$@" in the sandbox, in the array `jailed`.
jail() {
    jailed=(setpriv --reuid=65534 --regid=65534 --clear-groups
        /usr/bin/python3 "$sandbox/seccomp-run.py" "$unit" "$@")
    if [ "$namespaces" = yes ]; then
        jailed=(unshare -m --propagation private sh -c '
            set -e
            mount -t proc -o hidepid=invisible,subset=pid proc /proc
            mount --bind "$0" "$0"
            mount -o remount,bind,ro /
            mount -t tmpfs -o mode=1777 tmpfs /tmp
            mount -t tmpfs -o mode=1777 tmpfs /var/tmp
            cd "$0"
            exec "$@"' "$sandbox" "${jailed[@]}")
    fi
}
wait_for() { # PATTERN FILE: until a line of FILE matches, for at most 60 s
    local i
    for i in $(seq 300); do
        grep -q "$1" "$2" 2>/dev/null && return 0
        sleep 0.2
    done
    fail "no line matching '$1' in $2 after 60 s: $(tail -n 5 "$2" 2>/dev/null)"
}
chown -R nobody:nogroup "$sandbox"
jail /usr/bin/mcsource demo
events=$(MCSOURCE_CACHE_DIR="$sandbox/cache" timeout 120 "${jailed[@]}" 2>"$sandbox/demo.err" | wc -l)
[ "$events" -gt 0 ] || fail "demo in the sandbox delivered nothing: $(tail -n 5 "$sandbox/demo.err")"
/usr/bin/mcsource mock --write-config "$sandbox/mock.toml" >/dev/null 2>"$sandbox/mock.err" &
mock=$!
wait_for 'mock Mimecast at' "$sandbox/mock.err"
sed -n 's/^secret_key = "\(.*\)"$/\1/p' "$sandbox/mock.toml" >"$sandbox/credentials/mimecast-secret-key"
sed -e 's/^state_dir = .*/state_dir = "state"/' \
    -e 's/^type = "stdout"$/type = "file"\npath = "events.ndjson"/' \
    -e 's/^secret_key = .*/secret_key = { credential = "mimecast-secret-key" }/' \
    "$sandbox/mock.toml" >"$sandbox/run.toml"
chown -R nobody:nogroup "$sandbox"
chmod 0700 "$sandbox/credentials"
jail /usr/bin/mcsource run --config "$sandbox/run.toml"
CREDENTIALS_DIRECTORY="$sandbox/credentials" "${jailed[@]}" 2>"$sandbox/run.err" &
run=$!
wait_for 'caught_up=true' "$sandbox/run.err"
kill -HUP "$run"
wait_for 'configuration reloaded' "$sandbox/run.err"
kill -TERM "$run"
timeout 60 tail --pid="$run" -f /dev/null || fail "run did not stop within 60 s of SIGTERM"
code=0
wait "$run" || code=$?
[ "$code" -eq 0 ] || fail "run in the sandbox exited with $code: $(tail -n 5 "$sandbox/run.err")"
collected=$(wc -l <"$sandbox/events.ndjson")
[ "$collected" -gt 0 ] || fail "run in the sandbox collected nothing"
! grep -E ' (WARN|ERROR) ' "$sandbox/run.err" || fail "run in the sandbox logged warnings or errors"
kill "$mock" && wait "$mock" || true
mock= run=
say "sandbox (mount namespace: $namespaces): demo $events events, run $collected events, reload, stop: OK"

# dpkg -r: nothing of the package is left but the conffile (and, as with every package whose
# unit dh_installsystemd handles, deb-systemd-helper's mask of the unit: a link to /dev/null);
# dpkg -P: nothing at all.
dpkg -r mcsource >/dev/null
while read -r path; do
    if [ "$path" = /etc/mcsource/mcsource.toml ]; then
        [ -f "$path" ] || fail "dpkg -r removed the conffile $path"
    elif [ -f "$path" ] || [ -L "$path" ]; then
        fail "dpkg -r left $path"
    fi
done <<<"$files"
mask=/etc/systemd/system/mcsource.service
if [ -e "$mask" ] || [ -L "$mask" ]; then
    [ "$(readlink "$mask")" = /dev/null ] || fail "dpkg -r left $mask, not a mask"
fi
dpkg -P mcsource >/dev/null
while read -r path; do
    if [ -f "$path" ] || [ -L "$path" ]; then fail "dpkg -P left $path"; fi
done <<<"$files"
[ ! -e /etc/mcsource ] || fail "dpkg -P left /etc/mcsource"
[ ! -L "$mask" ] || fail "dpkg -P left the mask $mask"
left=$(find /var/lib/systemd/deb-systemd-helper-* -name 'mcsource.*' 2>/dev/null)
[ -z "$left" ] || fail "dpkg -P left deb-systemd-helper state: $left"
if dpkg-query -W -f '${db:Status-Status}' mcsource 2>/dev/null | grep -qv '^not-installed$'; then
    fail "dpkg still knows mcsource after dpkg -P"
fi

say "OK in $((SECONDS - started))s"
