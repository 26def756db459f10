#!/usr/bin/env bash
# What the tests need beside Rust, installed if missing (idempotent, quick when done): real
# rsyslog and syslog-ng for the sink tests, a PostgreSQL server for the PostgreSQL state tests,
# and the reference OpenMetrics parser (Python prometheus-client) for the metrics test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash .ci/install-receivers.sh
bash .ci/install-postgres.sh
python3 -m pip install --quiet --disable-pip-version-check prometheus-client==0.21.1
