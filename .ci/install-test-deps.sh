#!/usr/bin/env bash
# What the tests need beside Rust, installed if missing (idempotent, quick when done): real
# rsyslog and syslog-ng for the sink tests, a PostgreSQL server for the PostgreSQL state tests,
# the reference OpenMetrics parser (Python prometheus-client) for the metrics test, and Node.js
# with npm for the Node host test (which runs `npm ci` and jco itself).
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/install-receivers.sh
bash .ci/install-postgres.sh
python3 -m pip install --quiet --disable-pip-version-check prometheus-client==0.21.1
if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    sudo=()
    if [ "$(id -u)" != 0 ]; then sudo=(sudo); fi
    "${sudo[@]}" apt-get update -qq
    DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq nodejs npm >/dev/null
fi
