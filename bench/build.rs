//! Builds the benchmark-only component of `bench/guest` (same target and linker as the
//! collector: `host-test/build_component.rs`) and hands its path to the harness
//! (`BENCH_COMPONENT`). Its own target directory: the guest builds
//! mimecast-source without its `component` feature, and that cdylib would otherwise overwrite
//! the collector's .wasm that the host bundles.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

fn main() {
    let manifest_dir = PathBuf::from(env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let workspace = manifest_dir.join("..");
    for watched in ["src", "wit", "bench/guest", "Cargo.toml", "Cargo.lock"] {
        println!(
            "cargo:rerun-if-changed={}",
            workspace.join(watched).display()
        );
    }
    println!("cargo:rerun-if-changed=../host-test/build_component.rs");
    let target_dir = workspace.join("target").join("bench-guest");
    let wasm = build_component(&workspace, &target_dir, "mimecast-bench-guest");
    // Not watched: this script writes it, so watching it would make every next build run
    // the script again and re-link whatever embeds it.
    println!(
        "cargo:rustc-env=MIMECAST_BENCH_GUEST_WASM={}",
        wasm.display()
    );
}

include!("../host-test/build_component.rs");
