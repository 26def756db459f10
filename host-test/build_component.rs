// Shared by the build scripts of mimecast-host and mimecast-bench (each `include!`s it): builds
// a component crate for wasm32-wasip2 with a cargo of its own.

/// Builds `package` for wasm32-wasip2 with the release profile into `target_dir`, as a
/// `cdylib` (the `.wasm`). The crates themselves are plain `rlib`s: a crate that is also a
/// `cdylib` gets no hash in its file names, so a native release build and a test build with
/// other features overwrote each other's copy ("found possibly newer version of crate").
fn build_component(workspace: &Path, target_dir: &Path, package: &str) {
    let cargo = env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let status = Command::new(cargo)
        .args(["rustc", "--release", "--target=wasm32-wasip2", "--lib", "--crate-type=cdylib"])
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
