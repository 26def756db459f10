//! Builds the mimecast-source component (target and linker: `build_component.rs`) and hands its
//! path to the host crate, which bundles it (`runtime::BUNDLED_COMPONENT`). The nested cargo uses
//! its own target directory so it never waits on the outer build's lock.

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
    println!("cargo:rerun-if-changed=build_component.rs");
    let wasm = build_component(&workspace, &target_dir, "mimecast-source");
    // Not watched: this script writes it, so watching it would make every next build run
    // the script again and re-link whatever embeds it.
    println!("cargo:rustc-env=MIMECAST_SOURCE_WASM={}", wasm.display());
    // For `mcsource --version`: which guest and which WIT package are bundled.
    println!(
        "cargo:rustc-env=MIMECAST_SOURCE_VERSION={}",
        first_value(&workspace.join("Cargo.toml"), "version = \"").unwrap_or_default()
    );
    println!(
        "cargo:rustc-env=MIMECAST_SOURCE_WIT={}",
        first_value(&workspace.join("wit/source.wit"), "package ").unwrap_or_default()
    );
}

/// The rest of the first line of `file` that starts with `prefix`, without a trailing `"` or `;`.
fn first_value(file: &Path, prefix: &str) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    let line = text.lines().find(|l| l.starts_with(prefix))?;
    Some(
        line[prefix.len()..]
            .trim_end_matches(['"', ';'])
            .to_string(),
    )
}

include!("build_component.rs");
