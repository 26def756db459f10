#!/usr/bin/env bash
# Builds the Debian package of mcsource: target/debian/mcsource_<version>-1_<arch>.deb (its path
# is the last line printed). Steps, so that each input is built once:
#   1. the release binary (its build script builds the component, target/component/…);
#   2. the man page and the bash, zsh and fish completions, written by that binary's hidden
#      `mcsource generate` into target/packaging/, and beside them the examples git tracks;
#   3. `cargo deb -p mimecast-host --no-build`, which packs them with the assets listed in
#      host-test/Cargo.toml, [package.metadata.deb].
# Installs cargo-deb (pinned version, from crates.io) if it is missing or another version.
# Needs: rustup target add wasm32-unknown-unknown. See docs/packaging.md.
set -euo pipefail
cd "$(dirname "$0")/.."

CARGO_DEB_VERSION=3.8.0

if [ "$(cargo deb --version 2>/dev/null)" != "cargo-deb $CARGO_DEB_VERSION" ]; then
    echo "build-deb: installing cargo-deb $CARGO_DEB_VERSION" >&2
    cargo install cargo-deb --version "$CARGO_DEB_VERSION" --locked --quiet
fi

# MCSOURCE_DEB_PROFILE=dev packs the debug build instead (CI, which has built it for the tests
# already, checks the packaging with it; a release build from scratch takes a quarter of an hour
# on 2 cores). Packages for use are built with the release profile, the default.
profile=${MCSOURCE_DEB_PROFILE:-release}
case "$profile" in
    release) dir=release ;;
    dev) dir=debug ;;
    *) echo "build-deb: MCSOURCE_DEB_PROFILE must be release or dev, not $profile" >&2; exit 2 ;;
esac
cargo build --profile "$profile" --locked -p mimecast-host --bin mcsource

bin="${CARGO_TARGET_DIR:-target}/$dir/mcsource"
out=target/packaging
mkdir -p "$out"
"$bin" generate man >"$out/mcsource.1"
"$bin" generate bash >"$out/mcsource.bash"
"$bin" generate zsh >"$out/_mcsource"
"$bin" generate fish >"$out/mcsource.fish"
# The examples as git tracks them, not what tests leave beside them (examples/node/node_modules).
rm -rf "$out/examples"
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
    git ls-files -z -- examples ':!:**/.gitignore' | xargs -0 cp --parents -t "$out"
else
    cp -r examples "$out/"
fi

# cargo-deb warns about every asset under ../target/ that it does not build itself (the
# generated files and the component): expected here, so those lines are left out.
cargo deb -p mimecast-host --no-build --locked --profile "$profile" \
    2> >(grep -v "^warning: Only source paths starting with exactly 'target/release/'" >&2)
