//! Builds the mimecast-source component for wasm32-wasip2 and hands its path to the host crate,
//! which bundles it (`runtime::BUNDLED_COMPONENT`); likewise the benchmark-only component of
//! `bench/guest` (`bench::BENCH_COMPONENT`). The nested cargo uses its own target
//! directory so it never waits on the outer build's lock.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let workspace = manifest_dir.join("..");
    let target_dir = workspace.join("target").join("component");
    for watched in ["src", "wit", "Cargo.toml", "Cargo.lock"] {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(watched).display()
        );
    }
    println!(
        "cargo:rerun-if-changed={}",
        workspace.join("bench/guest").display()
    );
    // The collector, and the benchmark-only component that runs the same poll path
    // (`mcsource bench`). Separate target directories: the guest builds mimecast-source without
    // its `component` feature, and that cdylib would overwrite the collector's .wasm.
    let bench_dir = workspace.join("target").join("bench-guest");
    build_component(&workspace, &target_dir, "mimecast-source");
    build_component(&workspace, &bench_dir, "mimecast-bench-guest");
    let wasm = target_dir.join("wasm32-wasip2/release/mimecast_source.wasm");
    println!("cargo:rerun-if-changed={}", wasm.display());
    println!("cargo:rustc-env=MIMECAST_SOURCE_WASM={}", wasm.display());
    let bench = bench_dir.join("wasm32-wasip2/release/mimecast_bench_guest.wasm");
    println!("cargo:rerun-if-changed={}", bench.display());
    println!(
        "cargo:rustc-env=MIMECAST_BENCH_GUEST_WASM={}",
        bench.display()
    );
}

/// Builds `package` for wasm32-wasip2 with the release profile into `target_dir`.
fn build_component(workspace: &Path, target_dir: &Path, package: &str) {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--target=wasm32-wasip2", "--lib"])
        .arg(format!("--package={package}"))
        .env("CARGO_TARGET_DIR", target_dir)
        // The outer build's flags, wrappers (clippy) and profile are not the component's.
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .env_remove("RUSTFLAGS")
        .env_remove("RUSTC_WORKSPACE_WRAPPER")
        .env_remove("RUSTC_WRAPPER")
        .env_remove("CARGO_BUILD_TARGET")
        .env_remove("CARGO_MAKEFLAGS")
        .env_remove("MAKEFLAGS")
        .env_remove("MFLAGS")
        .current_dir(workspace)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!(
            "building the {package} component failed ({s}); is the target installed? \
             run: rustup target add wasm32-wasip2"
        ),
        Err(e) => panic!("cannot run cargo to build the {package} component: {e}"),
    }
}
